export * from './webhooks.service';
export * from './webhooks.module';
