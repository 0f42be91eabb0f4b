import type { AppConfig } from '@app/config';
import { LIFECYCLE_TASKS, type QueueDriver } from '@app/queue';

/**
 * Registers the housekeeping tasks with the queue. Called wherever workers run (the worker process, or the API in
 * the embedded profile); BullMQ keeps one schedule per task however many processes call this.
 */
export async function scheduleLifecycleJobs(driver: QueueDriver, config: AppConfig): Promise<void> {
  for (const task of LIFECYCLE_TASKS) {
    // Rescans have their own pace (CLAMAV_RESCAN_INTERVAL_SECONDS): a signature update may outdate every file.
    const seconds = task === 'rescan-outdated' ? config.scanning.rescanIntervalSeconds : config.lifecycle.sweepIntervalSeconds;
    await driver.schedule(`lifecycle:${task}`, 'lifecycle.sweep', { task }, seconds * 1000);
  }
}
