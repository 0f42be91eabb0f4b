import { ConfigError, loadConfig } from './load-config';

describe('loadConfig', () => {
  it('gives the embedded defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config.http).toEqual({ port: 3000, host: '0.0.0.0', publicUrl: 'http://localhost:3000', trustProxy: 'loopback' });
    expect(config.database.url).toBeUndefined();
    expect(config.queue.redisUrl).toBeUndefined();
    expect(config.storage.driver).toBe('local');
    expect(config.uploads).toEqual({ maxBytes: 104857600, signedUrlTtlSeconds: 300 });
    expect(config.auth.usingDevelopmentSecret).toBe(true);
    expect(config.fileClients.configured).toEqual({});
    expect(config.scanning).toEqual({ clamavAddress: undefined, timeoutMs: 60000, maxStreamBytes: 26214400, oversizePolicy: 'fail', rescanBatchSize: 100, rescanIntervalSeconds: 300 });
  });

  it.each([
    [{ PORT: '99999' }, /^Invalid configuration: PORT /],
    [{ MAX_UPLOAD_BYTES: 'lots' }, /^Invalid configuration: MAX_UPLOAD_BYTES /],
    [{ STORAGE_DRIVER: 'ftp' }, /^Invalid configuration: STORAGE_DRIVER /],
    [{ STORAGE_DRIVER: 's3' }, /^Invalid configuration: S3_BUCKET is required when STORAGE_DRIVER=s3$/],
    [{ S3_STALL_TIMEOUT_MS: '0' }, /^Invalid configuration: S3_STALL_TIMEOUT_MS /],
    [{ DATABASE_URL: 'mysql://x' }, /^Invalid configuration: DATABASE_URL must be a postgresql:\/\/ URL$/],
    [{ FILE_CLIENTS: '{not json' }, /^Invalid configuration: FILE_CLIENTS must be valid JSON$/],
    [{ FILE_CLIENTS: '{"c1": "short"}' }, /^Invalid configuration: FILE_CLIENTS must be a JSON object/],
    [{ CLAMAV_ADDRESS: '127.0.0.1:3310' }, /^Invalid configuration: CLAMAV_ADDRESS must be tcp:\/\/host:port or unix:\/path\/to\/clamd.ctl$/],
    [{ CLAMAV_OVERSIZE_POLICY: 'skip' }, /^Invalid configuration: CLAMAV_OVERSIZE_POLICY /],
    [{ NODE_ENV: 'production' }, /^Invalid configuration: AUTH_JWT_SECRET is required when NODE_ENV=production$/],
  ])('refuses %j with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
    try {
      loadConfig(env);
    } catch (e) {
      expect((e as Error).message).not.toContain('\n');
    }
  });

  it('takes a clamd address over TCP or a unix socket', () => {
    expect(loadConfig({ CLAMAV_ADDRESS: 'tcp://127.0.0.1:3310' }).scanning.clamavAddress).toBe('tcp://127.0.0.1:3310');
    expect(loadConfig({ CLAMAV_ADDRESS: 'unix:/run/clamav/clamd.ctl', CLAMAV_OVERSIZE_POLICY: 'allow' }).scanning).toMatchObject({
      clamavAddress: 'unix:/run/clamav/clamd.ctl',
      oversizePolicy: 'allow',
    });
  });

  it('reads an empty CLAMAV_ADDRESS as unset: scanning off (what docker-compose.yml passes by default)', () => {
    expect(loadConfig({ CLAMAV_ADDRESS: '' }).scanning.clamavAddress).toBeUndefined();
    expect(loadConfig({ CLAMAV_ADDRESS: '  ' }).scanning.clamavAddress).toBeUndefined();
    expect(() => loadConfig({ CLAMAV_RESCAN_BATCH_SIZE: '-1' })).toThrow(/^Invalid configuration: CLAMAV_RESCAN_BATCH_SIZE /);
    expect(loadConfig({ CLAMAV_RESCAN_BATCH_SIZE: '0' }).scanning.rescanBatchSize).toBe(0);
  });

  it('builds the S3 settings only for the s3 driver', () => {
    const config = loadConfig({
      STORAGE_DRIVER: 's3',
      S3_BUCKET: 'files',
      S3_ACCESS_KEY_ID: 'k',
      S3_SECRET_ACCESS_KEY: 's',
      S3_FORCE_PATH_STYLE: 'true',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
    });
    expect(config.storage).toMatchObject({ driver: 's3', bucket: 'files', forcePathStyle: true, region: 'us-east-1', stallTimeoutMs: 30000 });
  });
});
