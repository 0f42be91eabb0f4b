import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { LocalStorageController } from './local-storage.controller';
import { LocalStorageDriver } from './local.driver';
import { S3StorageDriver } from './s3.driver';
import { STORAGE_DRIVER, type StorageDriver } from './storage.driver';

export function createStorageDriver(config: AppConfig): StorageDriver {
  const storage = config.storage;
  if (storage.driver === 's3') return new S3StorageDriver(storage);
  return new LocalStorageDriver({
    root: storage.root,
    signingSecret: storage.signingSecret,
    publicUrl: config.http.publicUrl,
  });
}

/**
 * Provides STORAGE_DRIVER from APP_CONFIG. The signed-URL controller is always mounted; with the S3 driver it
 * answers 404, since S3 serves its own signed URLs.
 */
@Global()
@Module({
  controllers: [LocalStorageController],
  providers: [{ provide: STORAGE_DRIVER, inject: [APP_CONFIG], useFactory: createStorageDriver }],
  exports: [STORAGE_DRIVER],
})
export class StorageModule {}
