import { randomBytes } from 'node:crypto';

/** Unique, sortable by time, and safe inside a Message-ID and a header value. */
export function newProbeId(now: number = Date.now()): string {
  return `${now.toString(36)}.${randomBytes(8).toString('hex')}`;
}
