import { TransformSlots } from './transform-slots';

describe('TransformSlots', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('grants up to its size at once and refuses at once when asked not to wait', async () => {
    const slots = new TransformSlots(2);
    expect(await slots.acquire(0)).toBe(true);
    expect(await slots.acquire(0)).toBe(true);
    expect(await slots.acquire(0)).toBe(false);
    expect(slots.inUse).toBe(2);
  });

  it('hands a released slot to the first in line', async () => {
    const slots = new TransformSlots(1);
    await slots.acquire(0);
    const first = slots.acquire(1000);
    const second = slots.acquire(1000);
    expect(slots.queued).toBe(2);
    slots.release();
    expect(await first).toBe(true);
    expect(slots.inUse).toBe(1);
    slots.release();
    expect(await second).toBe(true);
    slots.release();
    expect(slots.inUse).toBe(0);
  });

  it('gives up after the bounded wait and leaves the line', async () => {
    const slots = new TransformSlots(1);
    await slots.acquire(0);
    const waiting = slots.acquire(500);
    jest.advanceTimersByTime(500);
    expect(await waiting).toBe(false);
    expect(slots.queued).toBe(0);
    // The timed-out waiter does not take the slot released later.
    slots.release();
    expect(slots.inUse).toBe(0);
  });
});
