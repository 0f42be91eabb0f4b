import { z } from 'zod';

const DEV_JWT_SECRET = 'filehub-development-secret-change-me';

const bool = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1');

const positiveInt = z.coerce.number().int().positive();

// Every environment variable the service reads is declared here, with its default and its rules.
// Nothing else reads process.env.
export const configSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    HOST: z.string().min(1).default('0.0.0.0'),
    // Which proxies' X-Forwarded-For to believe for the client address (Express `trust proxy`): e.g. `uniquelocal` behind a gateway on a private network.
    TRUST_PROXY: z
      .string()
      .min(1)
      .default('loopback')
      .transform((v): string | number | boolean => (v === 'true' ? true : v === 'false' ? false : /^\d+$/.test(v) ? Number(v) : v)),
    PUBLIC_URL: z.url().optional(),
    DATA_DIR: z.string().min(1).default('./data'),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL')
      .optional(),
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .optional(),
    QUEUE_PREFIX: z.string().regex(/^[a-zA-Z0-9_-]+$/).default('filehub'),
    QUEUE_CONCURRENCY: positiveInt.max(256).default(4),
    // How long a worker's hold on a running job lasts without renewal; a worker that died (SIGKILL, lost host)
    // has its jobs picked up by another worker after about this long.
    QUEUE_LOCK_DURATION_MS: positiveInt.min(1000).max(600_000).default(30_000),
    STORAGE_DRIVER: z.enum(['local', 's3']).default('local'),
    S3_ENDPOINT: z.url().optional(),
    S3_REGION: z.string().min(1).default('us-east-1'),
    S3_BUCKET: z.string().min(3).max(63).optional(),
    S3_ACCESS_KEY_ID: z.string().min(1).optional(),
    S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
    S3_FORCE_PATH_STYLE: bool.default(false),
    // A request to S3 on which the store makes no progress for this long fails with a 503 (a store that stops
    // answering without closing its connections). Idle time only: a slow download or upload that moves is never cut.
    S3_STALL_TIMEOUT_MS: positiveInt.min(100).max(600_000).default(30_000),
    AUTH_JWT_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    AUTH_JWKS_URL: z.url().optional(),
    FILE_CLIENTS: z
      .string()
      .default('{}')
      .transform((raw, ctx) => {
        try {
          const parsed: unknown = JSON.parse(raw);
          const result = z.record(z.string().min(1), z.string().min(16)).safeParse(parsed);
          if (result.success) return result.data;
          ctx.addIssue({ code: 'custom', message: 'must be a JSON object of {"<fileClientId>": "<secret of 16+ characters>"}' });
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be valid JSON' });
        }
        return z.NEVER;
      }),
    // Key material for file-client secrets stored in the database (AES-256-GCM); defaults to one derived from
    // AUTH_JWT_SECRET. Changing it makes the stored secrets unreadable: rotate them through the admin API after.
    FILE_CLIENT_SECRETS_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
    // After a file client's secret is rotated, signatures made with the previous one verify this long.
    FILE_CLIENT_ROTATION_GRACE_SECONDS: z.coerce.number().int().min(0).max(30 * 24 * 3600).default(86_400),
    // Requests of the signed REST flow (/api/files upload, share, attach, download) per window; 0 turns a limit off.
    RATE_LIMIT_WINDOW_SECONDS: positiveInt.max(24 * 3600).default(60),
    RATE_LIMIT_PER_USER: z.coerce.number().int().min(0).default(300),
    RATE_LIMIT_PER_CLIENT: z.coerce.number().int().min(0).default(3000),
    RATE_LIMIT_PER_IP: z.coerce.number().int().min(0).default(600),
    // epilot surface: temporary uploads not saved within this long are removed (seed: one week).
    TEMP_UPLOAD_TTL_SECONDS: positiveInt.max(365 * 24 * 3600).default(7 * 24 * 3600),
    // Imports from a source_url: hosts or CIDR ranges allowed although private/loopback (tests, intranets), and limits.
    SOURCE_URL_ALLOW_HOSTS: z
      .string()
      .default('')
      .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean)),
    SOURCE_URL_TIMEOUT_MS: positiveInt.max(600_000).default(30_000),
    // Webhook target hosts or CIDR ranges allowed although private or loopback (tests, intranets).
    WEBHOOK_ALLOW_HOSTS: z
      .string()
      .default('')
      .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean)),
    // Uploads without credentials (epilot uploadFilePublic): largest file, and requests per IP per rate-limit window.
    PUBLIC_UPLOAD_MAX_BYTES: positiveInt.default(10 * 1024 * 1024),
    PUBLIC_UPLOAD_PER_IP: z.coerce.number().int().min(0).default(20),
    // Default quotas (0: none); an admin can set others per organization or user (PUT /quotas/...).
    QUOTA_ORG_BYTES: z.coerce.number().int().min(0).default(0),
    QUOTA_ORG_FILES: z.coerce.number().int().min(0).default(0),
    QUOTA_USER_BYTES: z.coerce.number().int().min(0).default(0),
    QUOTA_USER_FILES: z.coerce.number().int().min(0).default(0),
    MAX_UPLOAD_BYTES: positiveInt.default(104_857_600),
    SIGNED_URL_TTL_SECONDS: positiveInt.max(7 * 24 * 3600).default(300),
    STORAGE_SIGNING_SECRET: z.string().min(16).optional(),
    // Shared secret of the bucket-notification webhook (MinIO sends it as `Authorization: Bearer <token>`).
    STORAGE_EVENTS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    // GET /metrics: open (for a scraper on the internal network) unless this token is set, then `Authorization: Bearer <token>`.
    METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    // The worker process serves its own GET /metrics here (0: not at all).
    WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
    // OpenTelemetry: unset, no tracing; set, spans go to `<endpoint>/v1/traces` over OTLP/HTTP.
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
    OTEL_SERVICE_NAME: z.string().min(1).optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    OUTBOX_POLL_MS: positiveInt.default(1000),
    SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),
    // Post-upload media work: thumbnail widths (px, comma-separated) and the decoded-pixel limit of images.
    THUMBNAIL_SIZES: z
      .string()
      .regex(/^\s*\d{1,4}\s*(,\s*\d{1,4}\s*)*$/, 'must be comma-separated sizes in pixels, e.g. 64,256,1024')
      .default('64,256,1024')
      .transform((v) => [...new Set(v.split(',').map((n) => Number(n.trim())))].sort((a, b) => a - b))
      .refine((sizes) => sizes.every((n) => n >= 1 && n <= 4096), 'sizes must be from 1 to 4096 pixels'),
    MAX_IMAGE_PIXELS: positiveInt.max(2_000_000_000).default(100_000_000),
    // Image transforms on request (GET …?w&h&fit&format&q): the work one request may cause.
    TRANSFORM_MAX_INPUT_PIXELS: positiveInt.max(2_000_000_000).default(50_000_000),
    TRANSFORM_MAX_OUTPUT_PIXELS: positiveInt.max(16_777_216).default(16_777_216),
    TRANSFORM_CONCURRENCY: positiveInt.max(64).default(2),
    TRANSFORM_QUEUE_TIMEOUT_MS: z.coerce.number().int().min(0).max(60_000).default(5000),
    TRANSFORM_TIMEOUT_SECONDS: positiveInt.max(3600).default(30),
    TRANSFORM_CACHE_MAX_AGE_SECONDS: z.coerce.number().int().min(0).max(31_536_000).default(3600),
    TRANSFORM_MAX_VARIANTS_PER_FILE: z.coerce.number().int().min(0).max(1000).default(32),
    // Scheduled lifecycle jobs (LifecycleSweepJob).
    LIFECYCLE_SWEEP_INTERVAL_SECONDS: positiveInt.max(24 * 3600).default(3600),
    ABANDONED_UPLOAD_HOURS: positiveInt.max(24 * 365).default(24),
    // Objects no record references are collected once they are this old (uploads in flight are younger).
    ORPHAN_MIN_AGE_SECONDS: positiveInt.max(365 * 24 * 3600).default(86_400),
    // PROCESSING files with no progress this long get their job queued again (a job lost with Redis' memory).
    STALLED_PROCESSING_SECONDS: positiveInt.max(7 * 24 * 3600).default(900),
    SOFT_DELETE_RETENTION_DAYS: z.coerce.number().int().min(0).max(3650).default(30),
    // Virus scanning (docs/virus-scanning.md): unset or empty, uploads are not scanned (empty, so that docker-compose.yml
    // can pass `${CLAMAV_ADDRESS:-}` through). Set, every upload is streamed to this clamd before it may become READY.
    CLAMAV_ADDRESS: z.preprocess(
      (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
      z
        .string()
        .regex(/^(tcp:\/\/(\[[0-9a-fA-F:.]+\]|[^:/[\]]+):\d{1,5}\/?|unix:\/.+)$/, 'must be tcp://host:port or unix:/path/to/clamd.ctl')
        .optional(),
    ),
    // One conversation with clamd fails after this long without progress (no bytes taken, no answer); the job retries.
    CLAMAV_TIMEOUT_MS: positiveInt.max(3_600_000).default(60_000),
    // Files larger than this are not sent to clamd: keep it at or below clamd's StreamMaxLength (Debian: 25M).
    CLAMAV_MAX_STREAM_BYTES: positiveInt.max(4 * 1024 ** 3 - 1).default(25 * 1024 * 1024),
    // What happens to a file too large to scan: `fail` (FAILED with the reason, the default) or `allow` (READY unscanned).
    CLAMAV_OVERSIZE_POLICY: z.enum(['fail', 'allow']).default('fail'),
    // Rescans after a signature update: READY files scanned by an older clamd database, this many per run (0: off),
    // one run every CLAMAV_RESCAN_INTERVAL_SECONDS.
    CLAMAV_RESCAN_BATCH_SIZE: z.coerce.number().int().min(0).max(10_000).default(100),
    CLAMAV_RESCAN_INTERVAL_SECONDS: positiveInt.max(24 * 3600).default(300),
    // Resumable uploads (tus) and direct S3 multipart uploads not finished within this are removed by the sweep.
    RESUMABLE_UPLOAD_TTL_SECONDS: positiveInt.max(30 * 24 * 3600).default(86_400),
    // Pre-signed multipart uploads: the part size when the client names none (S3 needs 5 MiB+ for all but the last part).
    MULTIPART_PART_SIZE_BYTES: positiveInt.min(5 * 1024 * 1024).max(5 * 1024 * 1024 * 1024).default(16 * 1024 * 1024),
  })
  .superRefine((env, ctx) => {
    if (env.STORAGE_DRIVER === 's3') {
      for (const key of ['S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'] as const) {
        if (!env[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'is required when STORAGE_DRIVER=s3' });
      }
    }
    if (env.NODE_ENV === 'production' && !env.AUTH_JWT_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['AUTH_JWT_SECRET'], message: 'is required when NODE_ENV=production' });
    }
  });

export type RawConfig = z.output<typeof configSchema>;

export interface AppConfig {
  env: RawConfig['NODE_ENV'];
  http: { port: number; host: string; publicUrl: string; trustProxy: string | number | boolean };
  dataDir: string;
  database: { url?: string };
  queue: { redisUrl?: string; prefix: string; concurrency: number; outboxPollMs: number; lockDurationMs: number };
  storage:
    | { driver: 'local'; root: string; signingSecret: string }
    | {
        driver: 's3';
        endpoint?: string;
        region: string;
        bucket: string;
        accessKeyId: string;
        secretAccessKey: string;
        forcePathStyle: boolean;
        stallTimeoutMs: number;
        signingSecret: string;
      };
  auth: { jwtSecret: string; usingDevelopmentSecret: boolean; jwksUrl?: string };
  fileClients: FileClientsConfig;
  rateLimit: RateLimitConfig;
  epilot: { tempUploadTtlSeconds: number; publicUploadMaxBytes: number; publicUploadPerIp: number; customUrlSecret: string };
  sourceUrl: { allowList: string[]; timeoutMs: number };
  webhooks: { allowList: string[] };
  /** Defaults; 0 means no limit. */
  quotas: { orgBytes: number; orgFiles: number; userBytes: number; userFiles: number };
  /** Unset: the storage-events endpoint is off. */
  storageEvents: { token?: string };
  uploads: { maxBytes: number; signedUrlTtlSeconds: number };
  metrics: { token?: string; workerPort: number };
  tracing: { otlpEndpoint?: string; serviceName?: string };
  logLevel: RawConfig['LOG_LEVEL'];
  shutdownTimeoutMs: number;
  lifecycle: LifecycleConfig;
  media: { thumbnailSizes: number[]; maxImagePixels: number };
  transforms: TransformsConfig;
  scanning: ScanningConfig;
  resumable: ResumableConfig;
}

export interface TransformsConfig {
  /** Images with more pixels are not transformed (422), checked from the header before decoding. */
  maxInputPixels: number;
  /** Largest width×height a transform may produce (422 above). */
  maxOutputPixels: number;
  /** Transforms rendering at once in this process. */
  concurrency: number;
  /** How long a request waits for a free slot before a 503 with Retry-After. */
  queueTimeoutMs: number;
  /** libvips gives up on one transform after this long (503). */
  timeoutSeconds: number;
  /** `max-age` of transforms that are not content-addressed. */
  cacheMaxAgeSeconds: number;
  /** Rendered variants kept per file as derived objects; past it they are rendered for each request. */
  maxVariantsPerFile: number;
}

export interface ScanningConfig {
  /** clamd's address (`tcp://host:port`, `unix:/path`); unset: no scanning at all. */
  clamavAddress?: string;
  timeoutMs: number;
  maxStreamBytes: number;
  /** Files too large to scan: FAILED (`fail`) or READY without a scan (`allow`). */
  oversizePolicy: 'fail' | 'allow';
  /** READY files scanned by an older database rescanned per run of the `rescan-outdated` task (0: none). */
  rescanBatchSize: number;
  /** How often `rescan-outdated` runs. */
  rescanIntervalSeconds: number;
}

export interface ResumableConfig {
  /** Unfinished tus and multipart uploads are removed this long after they started. */
  ttlSeconds: number;
  /** Default part size of pre-signed multipart uploads. */
  multipartPartSize: number;
}

export interface FileClientsConfig {
  /** FILE_CLIENTS: the clients configured by environment (id → secret). */
  configured: Record<string, string>;
  secretsKey: string;
  rotationGraceSeconds: number;
}

export interface RateLimitConfig {
  windowSeconds: number;
  /** Requests per window; 0: no limit of that kind. */
  perUser: number;
  perClient: number;
  perIp: number;
}

export interface LifecycleConfig {
  /** How often each housekeeping task runs. */
  sweepIntervalSeconds: number;
  /** UPLOADING records older than this are failed and their partial bytes removed. */
  abandonedUploadHours: number;
  /** Soft-deleted files keep their bytes this long before the purge (0: at the next sweep). */
  softDeleteRetentionDays: number;
  /** Unreferenced objects younger than this are left alone (an upload may still be committing them). */
  orphanMinAgeSeconds: number;
  /** PROCESSING files untouched this long get their post-upload job queued again. */
  stalledProcessingSeconds: number;
}

export { DEV_JWT_SECRET };
