import {
  Global,
  Injectable,
  Inject,
  Module,
  type BeforeApplicationShutdown,
  type DynamicModule,
  type ModuleMetadata,
  type Provider,
  type Type,
} from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { BullMqQueueDriver } from './bullmq.driver';
import { InProcessQueueDriver } from './in-process.driver';
import { JOB_HANDLERS, JobRegistry, type JobHandler } from './job-registry';
import { OutboxRelay } from './outbox';
import { QUEUE_DRIVER, type QueueDriver } from './queue.driver';

export function createQueueDriver(config: AppConfig): QueueDriver {
  return config.queue.redisUrl
    ? new BullMqQueueDriver(config.queue.redisUrl, config.queue.prefix, config.queue.concurrency, config.queue.lockDurationMs)
    : new InProcessQueueDriver(config.queue.concurrency);
}

@Injectable()
// Runs before the HTTP server and the database close: running jobs finish or go back to the queue first.
class QueueShutdown implements BeforeApplicationShutdown {
  constructor(
    @Inject(QUEUE_DRIVER) private readonly driver: QueueDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly relay: OutboxRelay,
  ) {}

  async beforeApplicationShutdown(): Promise<void> {
    await this.relay.stop();
    await this.driver.close(this.config.shutdownTimeoutMs);
  }
}

export interface QueueModuleOptions {
  /** Modules that provide and export the handlers. */
  imports: ModuleMetadata['imports'];
  /** The job handlers; every job name must have exactly one. */
  handlers: Type<JobHandler>[];
}

@Global()
@Module({})
export class QueueModule {
  static forRoot(options: QueueModuleOptions): DynamicModule {
    const providers: Provider[] = [
      { provide: QUEUE_DRIVER, inject: [APP_CONFIG], useFactory: createQueueDriver },
      {
        provide: JOB_HANDLERS,
        inject: options.handlers,
        useFactory: (...handlers: JobHandler[]) => handlers,
      },
      { provide: JobRegistry, inject: [JOB_HANDLERS], useFactory: (handlers: JobHandler[]) => new JobRegistry(handlers) },
      OutboxRelay,
      QueueShutdown,
    ];
    return { module: QueueModule, imports: options.imports, providers, exports: [QUEUE_DRIVER, JobRegistry, OutboxRelay] };
  }
}
