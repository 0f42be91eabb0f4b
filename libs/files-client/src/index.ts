export * from './types';
export { attach, buildMeta, configure, FilesApiError, share, upload } from './client';
export { verifySignature } from './verify';
export { FilehubClient, type FileListFilters, type FileRecord, type ReconcileFinding, type ReconcileReport } from './rest-client';
