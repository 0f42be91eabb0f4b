export * from './job-registry';
export * from './queue.driver';
export * from './in-process.driver';
export * from './bullmq.driver';
export * from './outbox';
export * from './queue.module';
