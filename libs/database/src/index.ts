export * from './database.module';
export * from './prisma.service';
export * from './migrator';
export * from './embedded-postgres';
export * from './generated/client';
