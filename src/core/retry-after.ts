/**
 * An HTTP Retry-After header (RFC 9110 10.2.3: delay-seconds or an HTTP date) as milliseconds from now; undefined
 * when absent or unreadable. Callers cap it: a receiver's header must not park a queue or a tenant for a day.
 */
export function retryAfterMs(value: string | null | undefined, now: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
