import { monthRange } from '../../src/history/calendar.js';
import type { HistoryStore } from '../../src/history/types.js';
import { failed, passed } from '../alerting/support.js';
import { playHistory } from '../support/played-history.js';

export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;
// A fixed month, whatever today's date: November 2030, in UTC.
export const { from: NOV, to: DEC } = monthRange('2030-11', 'UTC');

/**
 * November 2030, every 10 minutes: probe-a (tenant contoso, imap) fails on the 10th from 09:00 for 2 hours with
 * token_secret_expired; probe-b (tenant fabrikam, smtp) on the 20th from 12:00 for 1 hour with connect_refused;
 * the agent is stopped on the 15th from 00:00 to 06:00.
 */
export async function novemberHistory(store: HistoryStore): Promise<void> {
  await playHistory(store, {
    from: NOV,
    to: DEC,
    stepMs: 10 * MIN,
    intervalSeconds: 600,
    stop: { from: NOV + 14 * DAY, to: NOV + 14 * DAY + 6 * HOUR },
    results: (t) => {
      const aDown = t >= NOV + 9 * DAY + 9 * HOUR && t < NOV + 9 * DAY + 11 * HOUR;
      const bDown = t >= NOV + 19 * DAY + 12 * HOUR && t < NOV + 19 * DAY + 13 * HOUR;
      const a = aDown ? failed({ monitor: 'probe-a', at: t, reason: 'token_secret_expired', stage: 'token' }) : passed({ monitor: 'probe-a', at: t });
      const b = bDown
        ? failed({ monitor: 'probe-b', check: 'smtp', at: t, reason: 'connect_refused', stage: 'connect' })
        : passed({ monitor: 'probe-b', check: 'smtp', at: t });
      return [a, { ...b, tenant: 'fabrikam', mailbox: 'probe@fabrikam.com' }];
    },
  });
}
