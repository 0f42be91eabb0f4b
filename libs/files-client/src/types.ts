/** Shapes of the signed REST flow, as the seed (Condo's `@open-condo/files`) defines them. */

export interface Sender {
  dv: 1;
  fingerprint: string;
}

/** The `meta` field of an upload (seed: "Upload meta structure"). */
export interface FileMeta {
  dv: 1;
  sender: Sender;
  user: { id: string };
  fileClientId: string;
  modelNames: string[];
  organization?: { id: string };
}

export interface BuildMetaOptions {
  /** User who will link the file to a model. */
  userId: string;
  /** client_id that will own this file. */
  fileClientId: string;
  /** Models allowed to reference this file. */
  modelNames: string[];
  fingerprint: string;
  /** Organization that will own the uploaded file. */
  organizationId?: string;
}

/** The optional `attach` field: attach the uploaded files to a record at once. */
export interface InlineAttachPayload {
  dv: 1;
  sender: Sender;
  modelName: string;
  itemId: string;
}

/** A file as a browser has it, a Blob, or bytes with a name (Node). */
export type UploadableFile = Blob | { buffer: Uint8Array; filename: string; type?: string };

export interface UploadProgress {
  /** Bytes of the request sent so far. */
  loaded: number;
  /** Bytes of the whole request (files and fields). */
  total: number;
  /** 0–100. */
  percent: number;
}

/** How to reach the file server; every call takes these, and `configure()` sets defaults for all. */
export interface ConnectionOptions {
  /** Base URL of the file server; defaults: configure(), then FILE_SERVER_URL / SERVER_URL (Node) or the page's origin. */
  serverUrl?: string;
  /** Bearer token, or a function returning one (called per request, so it can refresh). */
  token?: string | (() => string | Promise<string>);
  /** Extra headers (e.g. a cookie on a server). */
  headers?: Record<string, string>;
  /** Browser only: send cookies (default 'same-origin', as fetch does). */
  credentials?: 'omit' | 'same-origin' | 'include';
  signal?: AbortSignal;
}

export interface UploadOptions extends ConnectionOptions {
  files: UploadableFile[];
  meta: FileMeta;
  attach?: InlineAttachPayload;
  /** Called as the request body is sent (XMLHttpRequest in browsers, a streamed body in Node). */
  onProgress?: (progress: UploadProgress) => void;
}

export interface UploadFileResult {
  id: string;
  /** HS256 JWT signed with the client's secret; lives 300 seconds. */
  signature: string;
  originalFilename: string;
  /** Set when the upload carried `attach`. */
  attached?: boolean;
  publicSignature?: string;
}

export interface UploadResponse {
  files: UploadFileResult[];
}

export interface SharePayload {
  dv: 1;
  sender: Sender;
  /** The file to share. */
  id: string;
  /** The user who receives it. */
  user: { id: string };
  /** The app (file client) that receives it. */
  fileClientId: string;
  modelNames?: string[];
}

export interface ShareOptions extends ConnectionOptions {
  payload: SharePayload;
}

export interface ShareResponse {
  file: { id: string; signature: string };
}

export interface AttachPayload {
  dv: 1;
  sender: Sender;
  modelName: string;
  itemId: string;
  fileClientId: string;
  /** From upload or share. */
  signature: string;
}

export interface AttachOptions extends ConnectionOptions {
  payload: AttachPayload;
}

export interface AttachResponse {
  /** `signature` is the public signature (as Condo answers); `publicSignature` repeats it. */
  file: { id: string; signature: string; publicSignature: string; attached: boolean };
}

/** The user part of the metadata every signature carries. */
export interface SignedMeta {
  dv: 1;
  sender: Sender;
  user: { id: string };
  fileClientId: string;
  modelNames: string[];
  sourceFileClientId: string | null;
}

/** What a verified `signature` or `publicSignature` says. */
export interface SignaturePayload {
  id: string;
  recordId: string;
  filename: string;
  originalFilename: string;
  mimetype: string;
  encoding: string;
  meta: SignedMeta;
  iat: number;
  exp: number;
  [claim: string]: unknown;
}
