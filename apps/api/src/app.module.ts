import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';
import { AuthGuard, AuthModule, Public } from '@app/auth';
import { ConfigModule, type AppConfig } from '@app/config';
import { DatabaseModule } from '@app/database';
import { FILE_JOB_HANDLERS, FilesModule } from '@app/files';
import { QueueModule } from '@app/queue';
import { WEBHOOK_JOB_HANDLERS, WebhooksModule } from '@app/webhooks';
import { LocalStorageController, StorageModule } from '@app/storage';
import { ChainsiteModule } from './chainsite/chainsite.module';
import { FaciliooModule } from './facilioo/facilioo.module';
import { FilesController } from './files/files.controller';
import { depthLimit } from './graphql/depth-limit.rule';
import { FilesResolver } from './graphql/files.resolver';
import { JsonObjectScalar } from './graphql/json.scalar';
import { formatGraphqlError } from './graphql/graphql-errors';
import { HealthController } from './health/health.controller';
import { MetricsController } from './health/metrics.controller';
import { TransformMetrics } from './health/transform-metrics';
import { ConsoleController } from './console/console.controller';
import { WebhooksController } from './webhooks/webhooks.controller';
import { QuotasController } from './quotas/quotas.controller';
import { ReconcileController } from './admin/reconcile.controller';
import { MetricsModule } from '@app/metrics';
import { ScanningModule } from '@app/scanning';
import { PublicFilesController } from './public/public-files.controller';
import { SignedFlowModule } from './signed-flow/signed-flow.module';
import { EpilotModule } from './epilot/epilot.module';
import { HttpErrorFilter } from './http/http-error.filter';
import { MultipartController } from './multipart/multipart.controller';
import { TusController } from './tus/tus.controller';
import { TusEndpoint } from './tus/tus-endpoint';

// Signed storage URLs carry their own credential (the signature), not a bearer token.
Public()(LocalStorageController);

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule,
        StorageModule,
        AuthModule,
        QueueModule.forRoot({ imports: [FilesModule, WebhooksModule], handlers: [...FILE_JOB_HANDLERS, ...WEBHOOK_JOB_HANDLERS] }),
        FilesModule,
        MetricsModule,
        ScanningModule,
        WebhooksModule,
        ChainsiteModule,
        SignedFlowModule,
        EpilotModule,
        FaciliooModule,
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: ApolloDriver,
          path: '/graphql',
          // Printed to the committed schema.gql by `npm run schema:print`; a test keeps the two in step.
          autoSchemaFile: true,
          sortSchema: true,
          // Multipart requests (file uploads) must carry a preflight header, so a plain HTML form can't post one.
          csrfPrevention: true,
          introspection: true,
          validationRules: [depthLimit(8)],
          context: ({ req }: { req: unknown }) => ({ req }),
          formatError: formatGraphqlError,
        }),
      ],
      controllers: [HealthController, MetricsController, ConsoleController, WebhooksController, QuotasController, ReconcileController, MultipartController, FilesController, PublicFilesController, TusController],
      providers: [
        FilesResolver,
        JsonObjectScalar,
        TransformMetrics,
        TusEndpoint,
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: HttpErrorFilter },
      ],
    };
  }
}
