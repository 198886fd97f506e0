import type { Clock } from '../core/clock.js';

/** Exchange Online's SMTP AUTH submission limits per mailbox (docs/exchange-online-errors.md, "Limits for a self-probe every N minutes"). */
export const EXCHANGE_SEND_LIMITS = { perMinute: 30, perDay: 10_000 } as const;

/** The share of Exchange's limits a monitor may use by default, leaving the mailbox's real traffic its room. */
export const SAFE_SHARE = 0.1;

export interface SendBudgetLimits {
  perMinute: number;
  perDay: number;
}

export type SendReservation =
  | { ok: true; /** Gives the slot back: the check ended before it could submit anything. */ release(): void }
  | { ok: false; window: 'minute' | 'day'; limit: number; retryAfterSeconds: number };

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** One mailbox's sends: exact times for the minute window, counts per clock hour for the day window. */
interface MailboxSends {
  /** Epoch ms of each send in the last minute, oldest first (at most the per-minute limit). */
  minute: number[];
  /** [hour start, sends in it] for the hours that reach into the last day, oldest first (at most 25). */
  hours: Array<[number, number]>;
}

/**
 * Submissions per mailbox over sliding windows, shared by every check of every monitor in the process, so a
 * schedule, a reload and checks triggered by hand together still never exceed the budget. A slot is taken
 * before a check contacts anyone; a check that fails before its send step gives it back.
 *
 * The day window counts whole clock hours: a send leaves it up to an hour late, never early, so the budget is
 * never exceeded. Keeping every send's time instead cost 288 numbers per mailbox at a 5-minute interval
 * (23 MB at 10,000 mailboxes); hour counts cost at most 25 pairs.
 */
export class SendBudget {
  readonly #clock: Clock;
  /** Per lower-cased mailbox. */
  readonly #sends = new Map<string, MailboxSends>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  reserve(mailbox: string, limits: SendBudgetLimits): SendReservation {
    const key = mailbox.toLowerCase();
    const now = this.#clock.now();
    const sends = this.#current(key, now);
    if (sends.minute.length >= limits.perMinute) {
      const freeing = sends.minute[sends.minute.length - limits.perMinute] ?? now;
      return { ok: false, window: 'minute', limit: limits.perMinute, retryAfterSeconds: secondsUntil(freeing + MINUTE_MS, now) };
    }
    const today = sends.hours.reduce((sum, [, count]) => sum + count, 0);
    if (today >= limits.perDay) {
      return { ok: false, window: 'day', limit: limits.perDay, retryAfterSeconds: secondsUntil(dayFreesAt(sends.hours, today - limits.perDay + 1), now) };
    }
    const hour = now - (now % HOUR_MS);
    // New arrays of the exact length, not push: push reserves 16 more slots, 290 bytes per mailbox at 10,000.
    sends.minute = [...sends.minute, now];
    const last = sends.hours[sends.hours.length - 1];
    if (last && last[0] === hour) last[1] += 1;
    else sends.hours = [...sends.hours, [hour, 1]];
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        const found = this.#sends.get(key);
        if (!found) return;
        const at = found.minute.lastIndexOf(now);
        if (at >= 0) found.minute.splice(at, 1);
        const bucket = found.hours.find(([start]) => start === hour);
        if (bucket && bucket[1] > 0) bucket[1] -= 1;
      },
    };
  }

  /** The mailbox's sends with what has left both windows dropped. */
  #current(key: string, now: number): MailboxSends {
    let sends = this.#sends.get(key);
    if (!sends) {
      sends = { minute: [], hours: [] };
      this.#sends.set(key, sends);
    }
    if ((sends.minute[0] ?? now) <= now - MINUTE_MS) sends.minute = sends.minute.filter((at) => at > now - MINUTE_MS);
    // An hour leaves the day window once all of it is more than a day old.
    if ((sends.hours[0]?.[0] ?? now) + HOUR_MS <= now - DAY_MS) sends.hours = sends.hours.filter(([start]) => start + HOUR_MS > now - DAY_MS);
    return sends;
  }
}

/** When the oldest `needed` sends have all left the day window: the end of their hour plus a day. */
function dayFreesAt(hours: ReadonlyArray<[number, number]>, needed: number): number {
  let freed = 0;
  for (const [start, count] of hours) {
    freed += count;
    if (freed >= needed) return start + HOUR_MS + DAY_MS;
  }
  return (hours[hours.length - 1]?.[0] ?? 0) + HOUR_MS + DAY_MS;
}

function secondsUntil(at: number, now: number): number {
  return Math.max(1, Math.ceil((at - now) / 1000));
}

/**
 * Probe messages a schedule sends at most: in any minute (every sending check may fire within one) and in a day
 * (judged on the schedule's shortest gap, so irregular schedules are over- rather than underestimated).
 */
export function expectedSends(sendingChecks: number, intervalSeconds: number): { perMinute: number; perDay: number } {
  if (sendingChecks === 0) return { perMinute: 0, perDay: 0 };
  return {
    perMinute: Math.ceil(sendingChecks * Math.max(1, 60 / intervalSeconds)),
    perDay: Math.ceil(sendingChecks * (86_400 / intervalSeconds)),
  };
}
