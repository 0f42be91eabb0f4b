import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import Redis from 'ioredis';
import { ERRORS, type Lock, type Locker, type RequestRelease } from '@tus/server';

// Delete or extend the lock only while it is still ours (it may have expired and been taken by another replica).
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export interface RedisLockerOptions {
  /** A lock not renewed (its holder died) frees itself after this. */
  ttlMs: number;
  /** How long a request waits for a lock before failing. */
  acquireTimeoutMs: number;
  /** Pause between attempts. */
  retryMs: number;
}

/**
 * tus' per-upload lock shared by every API replica (the tus server's own MemoryLocker holds locks in one process).
 * A lock is a Redis key with an expiry, renewed while held. A request that finds the lock taken publishes the
 * upload's id; the replica holding it asks its request to let go (tus then ends that request's body gracefully, so
 * what it received is kept), exactly as MemoryLocker does within one process.
 */
export class RedisLocker implements Locker {
  private readonly logger = new Logger('TusLocks');
  private readonly client: Redis;
  private readonly subscriber: Redis;
  private readonly channel: string;
  /** Locks this process holds, by upload id: how to ask their request to let go. */
  readonly held = new Map<string, RequestRelease>();

  constructor(
    redisUrl: string,
    readonly prefix: string,
    readonly options: RedisLockerOptions = { ttlMs: 30_000, acquireTimeoutMs: 30_000, retryMs: 50 },
  ) {
    this.client = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
    this.subscriber = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.channel = `${prefix}:tus-lock-release`;
    for (const connection of [this.client, this.subscriber]) connection.on('error', (error: Error) => this.logger.warn(`Redis for tus locks: ${error.message}`));
    this.subscriber.on('message', (_channel: string, id: string) => {
      const release = this.held.get(id);
      if (release) void Promise.resolve(release()).catch(() => undefined);
    });
    void this.subscriber.subscribe(this.channel).catch((error: Error) => this.logger.warn(`Subscribing to ${this.channel}: ${error.message}`));
  }

  newLock(id: string): Lock {
    return new RedisLock(id, this);
  }

  key(id: string): string {
    return `${this.prefix}:tus-lock:${id}`;
  }

  async tryAcquire(id: string, token: string): Promise<boolean> {
    return (await this.client.set(this.key(id), token, 'PX', this.options.ttlMs, 'NX')) === 'OK';
  }

  async askToRelease(id: string): Promise<void> {
    await this.client.publish(this.channel, id);
  }

  async renew(id: string, token: string): Promise<void> {
    await this.client.eval(RENEW, 1, this.key(id), token, String(this.options.ttlMs));
  }

  async release(id: string, token: string): Promise<void> {
    await this.client.eval(RELEASE, 1, this.key(id), token);
  }

  close(): void {
    this.subscriber.disconnect();
    this.client.disconnect();
  }
}

class RedisLock implements Lock {
  private token?: string;
  private renewal?: NodeJS.Timeout;
  private requestRelease?: RequestRelease;

  constructor(
    private readonly id: string,
    private readonly locker: RedisLocker,
  ) {}

  async lock(signal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    const token = randomUUID();
    const { acquireTimeoutMs, retryMs, ttlMs } = this.locker.options;
    const deadline = Date.now() + acquireTimeoutMs;
    let askedAt = 0;
    for (;;) {
      if (signal.aborted) throw ERRORS.ERR_LOCK_TIMEOUT;
      if (await this.locker.tryAcquire(this.id, token)) break;
      // Ask the holder to let go, again every second in case it was between its lock and its subscription.
      if (Date.now() - askedAt >= 1000) {
        askedAt = Date.now();
        await this.locker.askToRelease(this.id);
      }
      if (Date.now() > deadline) throw ERRORS.ERR_LOCK_TIMEOUT;
      await sleep(retryMs, undefined, { signal }).catch(() => undefined);
    }
    this.token = token;
    this.requestRelease = requestRelease;
    this.locker.held.set(this.id, requestRelease);
    this.renewal = setInterval(() => void this.locker.renew(this.id, token).catch(() => undefined), Math.floor(ttlMs / 3));
    this.renewal.unref();
  }

  async unlock(): Promise<void> {
    clearInterval(this.renewal);
    if (this.locker.held.get(this.id) === this.requestRelease) this.locker.held.delete(this.id);
    if (this.token) await this.locker.release(this.id, this.token);
    this.token = undefined;
  }
}
