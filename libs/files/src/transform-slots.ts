/**
 * A counting semaphore with a bounded wait: at most `size` holders at once; a caller that finds every slot taken
 * waits in line up to `waitMs`, then gets `false` (the caller answers 503). Per process by design: it bounds the
 * CPU and memory this process spends on image transforms, which is a local resource, not a shared one.
 */
export class TransformSlots {
  private active = 0;
  private readonly waiting: { grant: () => void }[] = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`size must be a positive integer, got ${size}`);
  }

  get inUse(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves true with a slot held (call release once), or false when none came free within `waitMs`. */
  acquire(waitMs: number): Promise<boolean> {
    if (this.active < this.size) {
      this.active++;
      return Promise.resolve(true);
    }
    if (waitMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const entry = {
        grant: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        const index = this.waiting.indexOf(entry);
        if (index >= 0) this.waiting.splice(index, 1);
        resolve(false);
      }, waitMs);
      this.waiting.push(entry);
    });
  }

  release(): void {
    const next = this.waiting.shift();
    // The slot passes straight to the next in line, so `active` stays as it is.
    if (next) next.grant();
    else this.active = Math.max(0, this.active - 1);
  }
}
