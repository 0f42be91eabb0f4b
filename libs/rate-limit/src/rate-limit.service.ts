import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { AppError } from '@app/errors';

export type RateLimitSubject = 'user' | 'client' | 'ip' | 'publicUpload';

/** Who a request counts against; a missing key is not limited. */
export type RateLimitKeys = Partial<Record<RateLimitSubject, string>>;

/**
 * Fixed-window request limits per user, per file client and per IP address (RATE_LIMIT_*). With REDIS_URL the
 * counters live in Redis, so every API replica shares them; without it they live in this process. If Redis
 * cannot be reached the limiter falls back to in-memory counters rather than refusing every request.
 *
 * rate-limiter-flexible does the counting: its Redis store is an atomic script with the expiry set in the same
 * step, and it has been maintained for years; writing our own would only re-create it.
 */
@Injectable()
export class RateLimitService implements OnApplicationShutdown {
  private readonly logger = new Logger('RateLimit');
  private readonly redis?: Redis;
  private readonly limiters: Partial<Record<RateLimitSubject, RateLimiterAbstract>> = {};

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const { windowSeconds, perUser, perClient, perIp } = config.rateLimit;
    if (config.queue.redisUrl) {
      this.redis = new Redis(config.queue.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
      this.redis.on('error', (error: Error) => this.logger.warn(`Redis for rate limits: ${error.message}`));
    }
    const make = (subject: RateLimitSubject, points: number): RateLimiterAbstract | undefined => {
      if (points <= 0) return undefined;
      const options = { keyPrefix: `${config.queue.prefix}:ratelimit:${subject}`, points, duration: windowSeconds };
      if (!this.redis) return new RateLimiterMemory(options);
      return new RateLimiterRedis({ ...options, storeClient: this.redis, insuranceLimiter: new RateLimiterMemory(options) });
    };
    this.limiters.user = make('user', perUser);
    this.limiters.client = make('client', perClient);
    this.limiters.ip = make('ip', perIp);
    // Uploads without credentials (epilot uploadFilePublic), per IP.
    this.limiters.publicUpload = make('publicUpload', config.epilot.publicUploadPerIp);
  }

  /** Counts one request against each key; throws RATE_LIMITED (429, with the seconds to wait) past a limit. */
  async consume(keys: RateLimitKeys): Promise<void> {
    for (const subject of ['ip', 'publicUpload', 'user', 'client'] as const) {
      const key = keys[subject];
      const limiter = this.limiters[subject];
      if (!key || !limiter) continue;
      try {
        await limiter.consume(key);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        const retryAfterSeconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
        throw new AppError(
          'RATE_LIMITED',
          `Too many requests for this ${subject === 'client' ? 'file client' : subject === 'publicUpload' ? 'IP address (uploads without credentials)' : subject}: at most ${limiter.points} per ${limiter.duration} s; retry in ${retryAfterSeconds} s`,
          { retryAfterSeconds, subject },
        );
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.redis?.disconnect();
  }
}
