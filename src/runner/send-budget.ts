import type { Clock } from '../core/clock.js';

/** Exchange Online's SMTP AUTH submission limits per mailbox (../shared/reference/exchange-online-errors.md, "Limits for a self-probe every N minutes"). */
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
const DAY_MS = 86_400_000;

/**
 * Submissions per mailbox over sliding windows, shared by every check of every monitor in the process, so a
 * schedule, a reload and checks triggered by hand together still never exceed the budget. A slot is taken
 * before a check contacts anyone; a check that fails before its send step gives it back.
 */
export class SendBudget {
  readonly #clock: Clock;
  /** Epoch ms of each reserved send, oldest first, per lower-cased mailbox. */
  readonly #sends = new Map<string, number[]>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  reserve(mailbox: string, limits: SendBudgetLimits): SendReservation {
    const key = mailbox.toLowerCase();
    const now = this.#clock.now();
    const sends = (this.#sends.get(key) ?? []).filter((at) => at > now - DAY_MS);
    this.#sends.set(key, sends);
    const lastMinute = sends.filter((at) => at > now - MINUTE_MS);
    if (lastMinute.length >= limits.perMinute) {
      return { ok: false, window: 'minute', limit: limits.perMinute, retryAfterSeconds: waitSeconds(lastMinute, limits.perMinute, MINUTE_MS, now) };
    }
    if (sends.length >= limits.perDay) {
      return { ok: false, window: 'day', limit: limits.perDay, retryAfterSeconds: waitSeconds(sends, limits.perDay, DAY_MS, now) };
    }
    sends.push(now);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        const list = this.#sends.get(key);
        const at = list?.lastIndexOf(now) ?? -1;
        if (list && at >= 0) list.splice(at, 1);
      },
    };
  }
}

/** Seconds until enough of the oldest sends leave the window for one more to fit. */
function waitSeconds(inWindow: readonly number[], limit: number, windowMs: number, now: number): number {
  const freeing = inWindow[inWindow.length - limit] ?? now;
  return Math.max(1, Math.ceil((freeing + windowMs - now) / 1000));
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
