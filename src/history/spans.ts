import { DAY_MS, HOUR_MS } from './calendar.js';
import type { Grain } from './types.js';

// A result stands for its check's state from when it started until the next result, but no longer than its
// interval plus this grace (scheduling jitter, a late start); beyond that nobody looked, and the time is UNKNOWN.
export const COVER_GRACE = 0.1;

export function coverMs(intervalS: number): number {
  return Math.round(intervalS * 1000 * (1 + COVER_GRACE));
}

/** The span a result covers given the next result's start (or the end of what is known). */
export function coveredUntil(startedAt: number, intervalS: number, next: number): number {
  return Math.max(startedAt, Math.min(next, startedAt + coverMs(intervalS)));
}

/** [from, to) cut at UTC hour, day or calendar month boundaries: [bucketStart, milliseconds inside it]. */
export function splitSpan(from: number, to: number, grain: Grain): Array<[number, number]> {
  const parts: Array<[number, number]> = [];
  for (let start = from; start < to;) {
    const bucket = bucketOf(start, grain);
    const end = Math.min(to, nextBucket(bucket, grain));
    parts.push([bucket, end - start]);
    start = end;
  }
  return parts;
}

export function bucketOf(ms: number, grain: Grain): number {
  if (grain === 'month') return startOfUtcMonth(ms);
  const size = grain === 'hour' ? HOUR_MS : DAY_MS;
  return Math.floor(ms / size) * size;
}

function nextBucket(bucket: number, grain: Grain): number {
  if (grain === 'month') return addUtcMonths(bucket, 1);
  return bucket + (grain === 'hour' ? HOUR_MS : DAY_MS);
}

export function startOfUtcMonth(ms: number): number {
  const date = new Date(ms);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
}

/** The UTC month start `months` after (or before) the month start given. */
export function addUtcMonths(monthStart: number, months: number): number {
  const date = new Date(monthStart);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + months, 1);
}

/** Length of the overlap of [a, b) and [c, d). */
export function overlap(a: number, b: number, c: number, d: number): number {
  return Math.max(0, Math.min(b, d) - Math.max(a, c));
}
