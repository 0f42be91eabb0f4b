export * from './secret-box';
export * from './file-clients.service';
export * from './file-signatures.service';
export * from './signatures.module';
export * from './same-secret';
