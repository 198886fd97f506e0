import { performance } from 'node:perf_hooks';

export interface Clock {
  /** Wall time, epoch milliseconds. */
  now(): number;
  /** Monotonic milliseconds for durations. */
  monotonic(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};
