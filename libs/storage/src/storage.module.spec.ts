import { Test } from '@nestjs/testing';
import { ConfigModule, loadConfig } from '@app/config';
import { LocalStorageDriver } from './local.driver';
import { S3StorageDriver } from './s3.driver';
import { STORAGE_DRIVER, type StorageDriver } from './storage.driver';
import { StorageModule, createStorageDriver } from './storage.module';

async function driverFor(env: NodeJS.ProcessEnv): Promise<StorageDriver> {
  const moduleRef = await Test.createTestingModule({
    imports: [ConfigModule.forRoot(loadConfig(env)), StorageModule],
  }).compile();
  return moduleRef.get<StorageDriver>(STORAGE_DRIVER);
}

describe('StorageModule', () => {
  it('provides the local driver by default, signing URLs on PUBLIC_URL', async () => {
    const driver = await driverFor({ DATA_DIR: '/tmp/filehub-unit', PUBLIC_URL: 'https://files.example.com' });
    expect(driver).toBeInstanceOf(LocalStorageDriver);
    await expect(driver.presignGet('objects/ab/cd/ef', { expiresInSeconds: 60 })).resolves.toMatch(
      /^https:\/\/files\.example\.com\/storage\/v1\/object\/objects\/ab\/cd\/ef\?/,
    );
  });

  it('provides the S3 driver when STORAGE_DRIVER=s3, signing on the configured endpoint', async () => {
    const driver = await driverFor({
      STORAGE_DRIVER: 's3',
      S3_ENDPOINT: 'http://minio.internal:9000',
      S3_BUCKET: 'files',
      S3_ACCESS_KEY_ID: 'key',
      S3_SECRET_ACCESS_KEY: 'secret',
      S3_FORCE_PATH_STYLE: 'true',
    });
    expect(driver).toBeInstanceOf(S3StorageDriver);
    await expect(driver.presignGet('objects/ab/cd/ef', { expiresInSeconds: 60 })).resolves.toMatch(
      /^http:\/\/minio\.internal:9000\/files\/objects\/ab\/cd\/ef\?/,
    );
  });

  it('exposes the same choice as a plain factory', () => {
    expect(createStorageDriver(loadConfig({})).name).toBe('local');
  });
});
