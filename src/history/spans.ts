import { DAY_MS, HOUR_MS } from './calendar.js';

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

/** [from, to) cut at UTC hour or day boundaries: [bucketStart, milliseconds inside it]. */
export function splitSpan(from: number, to: number, grain: 'hour' | 'day'): Array<[number, number]> {
  const size = grain === 'hour' ? HOUR_MS : DAY_MS;
  const parts: Array<[number, number]> = [];
  for (let start = from; start < to; ) {
    const bucket = Math.floor(start / size) * size;
    const end = Math.min(to, bucket + size);
    parts.push([bucket, end - start]);
    start = end;
  }
  return parts;
}

export function bucketOf(ms: number, grain: 'hour' | 'day'): number {
  const size = grain === 'hour' ? HOUR_MS : DAY_MS;
  return Math.floor(ms / size) * size;
}

/** Length of the overlap of [a, b) and [c, d). */
export function overlap(a: number, b: number, c: number, d: number): number {
  return Math.max(0, Math.min(b, d) - Math.max(a, c));
}
