import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';
import { AuthGuard, AuthModule, Public } from '@app/auth';
import { ConfigModule, type AppConfig } from '@app/config';
import { DatabaseModule } from '@app/database';
import { FILE_JOB_HANDLERS, FilesModule } from '@app/files';
import { QueueModule } from '@app/queue';
import { LocalStorageController, StorageModule } from '@app/storage';
import { FilesController } from './files/files.controller';
import { FileResolver } from './graphql/file.resolver';
import { formatGraphqlError } from './graphql/graphql-errors';
import { HealthController } from './health/health.controller';
import { HttpErrorFilter } from './http/http-error.filter';

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
        QueueModule.forRoot({ imports: [FilesModule], handlers: FILE_JOB_HANDLERS }),
        FilesModule,
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: ApolloDriver,
          path: '/graphql',
          autoSchemaFile: true,
          sortSchema: true,
          csrfPrevention: true,
          introspection: true,
          context: ({ req }: { req: unknown }) => ({ req }),
          formatError: formatGraphqlError,
        }),
      ],
      controllers: [HealthController, FilesController],
      providers: [
        FileResolver,
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: HttpErrorFilter },
      ],
    };
  }
}
