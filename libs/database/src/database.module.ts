import { Global, Inject, Injectable, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres';
import { migrate } from './migrator';
import { createPrismaClient, type Db } from './prisma.service';

export const PRISMA = Symbol('PRISMA');

/** Owns the connection: starts embedded Postgres when no DATABASE_URL is set, migrates, and closes in order. */
@Injectable()
export class DatabaseLifecycle implements OnApplicationShutdown {
  private readonly logger = new Logger('Database');
  embedded?: EmbeddedPostgres;
  client?: Db;

  async open(config: AppConfig): Promise<Db> {
    let url = config.database.url;
    if (!url) {
      this.embedded = await startEmbeddedPostgres(config.dataDir);
      url = this.embedded.url;
      const how = { existing: '', seed: ' (new, from the build\'s seed)', initdb: ' (new, initdb: no seed in dist/, run npm run build)' }[this.embedded.origin];
      this.logger.log(`Embedded PostgreSQL (PGlite) in ${config.dataDir}${how}`);
    }
    const { applied } = await migrate(url);
    if (applied.length) this.logger.log(`Applied migrations: ${applied.join(', ')}`);
    this.client = createPrismaClient(url, this.embedded ? 1 : 10, { emitQueryEvents: config.env === 'test' });
    await this.client.$connect();
    return this.client;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client?.$disconnect();
    await this.embedded?.stop();
  }
}

@Global()
@Module({
  providers: [
    DatabaseLifecycle,
    {
      provide: PRISMA,
      inject: [APP_CONFIG, DatabaseLifecycle],
      useFactory: (config: AppConfig, lifecycle: DatabaseLifecycle) => lifecycle.open(config),
    },
  ],
  exports: [PRISMA],
})
export class DatabaseModule {}

export const InjectDb = () => Inject(PRISMA);
