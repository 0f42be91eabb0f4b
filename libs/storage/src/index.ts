export * from './storage.driver';
export * from './storage-locator';
export { LocalStorageDriver, type LocalStorageOptions } from './local.driver';
export { S3StorageDriver, s3ClientConfig, type S3StorageOptions } from './s3.driver';
export { LocalStorageController, SIGNED_STORAGE_ROUTE } from './local-storage.controller';
export {
  LOCAL_STORAGE_PATH,
  SignedRequestError,
  signObjectUrl,
  verifyObjectUrl,
  signPostPolicy,
  verifyPostPolicy,
  type ObjectUrlClaims,
  type SignedMethod,
  type VerifiedPostPolicy,
} from './local-url-signer';
export { parseRangeHeader, type RangeRequest } from './http-range';
export { useStorageSafeBodyParsers } from './storage-body-parsers';
export { StorageModule, createStorageDriver } from './storage.module';
