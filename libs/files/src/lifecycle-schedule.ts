import type { AppConfig } from '@app/config';
import { LIFECYCLE_TASKS, type QueueDriver } from '@app/queue';

/**
 * Registers the housekeeping tasks with the queue. Called wherever workers run (the worker process, or the API in
 * the embedded profile); BullMQ keeps one schedule per task however many processes call this.
 */
export async function scheduleLifecycleJobs(driver: QueueDriver, config: AppConfig): Promise<void> {
  const everyMs = config.lifecycle.sweepIntervalSeconds * 1000;
  for (const task of LIFECYCLE_TASKS) {
    await driver.schedule(`lifecycle:${task}`, 'lifecycle.sweep', { task }, everyMs);
  }
}
