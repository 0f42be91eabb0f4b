import { resolve, join } from 'node:path';
import { configSchema, DEV_JWT_SECRET, type AppConfig } from './config.schema';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Validates the environment once; the first bad variable is reported in one line that names it. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  // Empty strings count as unset, as in most .env tooling.
  const input = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    const name = String(issue.path[0] ?? 'environment');
    throw new ConfigError(`Invalid configuration: ${name} ${issue.message}`);
  }
  const raw = result.data;
  const dataDir = resolve(raw.DATA_DIR);
  const jwtSecret = raw.AUTH_JWT_SECRET ?? DEV_JWT_SECRET;
  const signingSecret = raw.STORAGE_SIGNING_SECRET ?? `storage:${jwtSecret}`;
  const publicUrl = (raw.PUBLIC_URL ?? `http://localhost:${raw.PORT}`).replace(/\/+$/, '');
  return {
    env: raw.NODE_ENV,
    http: { port: raw.PORT, host: raw.HOST, publicUrl, trustProxy: raw.TRUST_PROXY },
    dataDir,
    database: { url: raw.DATABASE_URL },
    queue: {
      redisUrl: raw.REDIS_URL,
      prefix: raw.QUEUE_PREFIX,
      concurrency: raw.QUEUE_CONCURRENCY,
      lockDurationMs: raw.QUEUE_LOCK_DURATION_MS,
      outboxPollMs: raw.OUTBOX_POLL_MS,
    },
    storage:
      raw.STORAGE_DRIVER === 's3'
        ? {
            driver: 's3',
            endpoint: raw.S3_ENDPOINT,
            region: raw.S3_REGION,
            bucket: raw.S3_BUCKET!,
            accessKeyId: raw.S3_ACCESS_KEY_ID!,
            secretAccessKey: raw.S3_SECRET_ACCESS_KEY!,
            forcePathStyle: raw.S3_FORCE_PATH_STYLE,
            stallTimeoutMs: raw.S3_STALL_TIMEOUT_MS,
            signingSecret,
          }
        : { driver: 'local', root: join(dataDir, 'objects'), signingSecret },
    auth: { jwtSecret, usingDevelopmentSecret: !raw.AUTH_JWT_SECRET, jwksUrl: raw.AUTH_JWKS_URL },
    fileClients: {
      configured: raw.FILE_CLIENTS,
      secretsKey: raw.FILE_CLIENT_SECRETS_KEY ?? `file-clients:${jwtSecret}`,
      rotationGraceSeconds: raw.FILE_CLIENT_ROTATION_GRACE_SECONDS,
    },
    epilot: {
      tempUploadTtlSeconds: raw.TEMP_UPLOAD_TTL_SECONDS,
      publicUploadMaxBytes: raw.PUBLIC_UPLOAD_MAX_BYTES,
      publicUploadPerIp: raw.PUBLIC_UPLOAD_PER_IP,
      customUrlSecret: `custom-download-urls:${jwtSecret}`,
    },
    sourceUrl: { allowList: raw.SOURCE_URL_ALLOW_HOSTS, timeoutMs: raw.SOURCE_URL_TIMEOUT_MS },
    webhooks: { allowList: raw.WEBHOOK_ALLOW_HOSTS },
    quotas: { orgBytes: raw.QUOTA_ORG_BYTES, orgFiles: raw.QUOTA_ORG_FILES, userBytes: raw.QUOTA_USER_BYTES, userFiles: raw.QUOTA_USER_FILES },
    rateLimit: {
      windowSeconds: raw.RATE_LIMIT_WINDOW_SECONDS,
      perUser: raw.RATE_LIMIT_PER_USER,
      perClient: raw.RATE_LIMIT_PER_CLIENT,
      perIp: raw.RATE_LIMIT_PER_IP,
    },
    storageEvents: { token: raw.STORAGE_EVENTS_TOKEN },
    uploads: { maxBytes: raw.MAX_UPLOAD_BYTES, signedUrlTtlSeconds: raw.SIGNED_URL_TTL_SECONDS },
    metrics: { token: raw.METRICS_TOKEN, workerPort: raw.WORKER_METRICS_PORT },
    tracing: { otlpEndpoint: raw.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: raw.OTEL_SERVICE_NAME },
    logLevel: raw.LOG_LEVEL,
    shutdownTimeoutMs: raw.SHUTDOWN_TIMEOUT_MS,
    media: { thumbnailSizes: raw.THUMBNAIL_SIZES, maxImagePixels: raw.MAX_IMAGE_PIXELS },
    transforms: {
      maxInputPixels: raw.TRANSFORM_MAX_INPUT_PIXELS,
      maxOutputPixels: raw.TRANSFORM_MAX_OUTPUT_PIXELS,
      concurrency: raw.TRANSFORM_CONCURRENCY,
      queueTimeoutMs: raw.TRANSFORM_QUEUE_TIMEOUT_MS,
      timeoutSeconds: raw.TRANSFORM_TIMEOUT_SECONDS,
      cacheMaxAgeSeconds: raw.TRANSFORM_CACHE_MAX_AGE_SECONDS,
      maxVariantsPerFile: raw.TRANSFORM_MAX_VARIANTS_PER_FILE,
    },
    scanning: {
      clamavAddress: raw.CLAMAV_ADDRESS,
      timeoutMs: raw.CLAMAV_TIMEOUT_MS,
      maxStreamBytes: raw.CLAMAV_MAX_STREAM_BYTES,
      oversizePolicy: raw.CLAMAV_OVERSIZE_POLICY,
      rescanBatchSize: raw.CLAMAV_RESCAN_BATCH_SIZE,
      rescanIntervalSeconds: raw.CLAMAV_RESCAN_INTERVAL_SECONDS,
    },
    resumable: { ttlSeconds: raw.RESUMABLE_UPLOAD_TTL_SECONDS, multipartPartSize: raw.MULTIPART_PART_SIZE_BYTES },
    lifecycle: {
      sweepIntervalSeconds: raw.LIFECYCLE_SWEEP_INTERVAL_SECONDS,
      abandonedUploadHours: raw.ABANDONED_UPLOAD_HOURS,
      softDeleteRetentionDays: raw.SOFT_DELETE_RETENTION_DAYS,
      orphanMinAgeSeconds: raw.ORPHAN_MIN_AGE_SECONDS,
      stalledProcessingSeconds: raw.STALLED_PROCESSING_SECONDS,
    },
  };
}
