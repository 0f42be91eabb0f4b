import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule, type AppConfig } from '@app/config';
import { DatabaseModule } from '@app/database';
import { FILE_JOB_HANDLERS, FilesModule } from '@app/files';
import { MetricsModule } from '@app/metrics';
import { QueueModule } from '@app/queue';
import { WEBHOOK_JOB_HANDLERS, WebhooksModule } from '@app/webhooks';
import { StorageModule } from '@app/storage';

/** The same domain modules as the API, without HTTP: only the job handlers run here. */
@Module({})
export class WorkerModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule,
        StorageModule,
        QueueModule.forRoot({ imports: [FilesModule, WebhooksModule], handlers: [...FILE_JOB_HANDLERS, ...WEBHOOK_JOB_HANDLERS] }),
        FilesModule,
        MetricsModule,
      ],
    };
  }
}
