import { monthRange } from '../../src/history/calendar.js';
import { HistoryRecorder } from '../../src/history/recorder.js';
import type { HistoryStore } from '../../src/history/types.js';
import type { CheckResult } from '../../src/core/result.js';
import { failed, FakeClock, MemoryLogger, passed } from '../alerting/support.js';

export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;
// A fixed month, whatever today's date: November 2030, in UTC.
export const { from: NOV, to: DEC } = monthRange('2030-11', 'UTC');

const TEN_MINUTES = { monitor: { intervalSeconds: 600 } };

/**
 * November 2030, every 10 minutes: probe-a (tenant contoso, imap) fails on the 10th from 09:00 for 2 hours with
 * token_secret_expired; probe-b (tenant fabrikam, smtp) on the 20th from 12:00 for 1 hour with
 * connect_refused; the agent is stopped on the 15th from 00:00 to 06:00.
 */
export async function novemberHistory(store: HistoryStore): Promise<void> {
  const clock = new FakeClock();
  clock.time = NOV;
  const open = (): HistoryRecorder => new HistoryRecorder({ store, clock, logger: new MemoryLogger(), flushMs: 3_600_000 });
  let recorder = open();
  recorder.start();
  const stopAt = NOV + 14 * DAY;
  const restartAt = stopAt + 6 * HOUR;
  for (let t = NOV; t < DEC; t += 10 * MIN) {
    if (t >= stopAt && t < restartAt) continue;
    if (t === restartAt) {
      clock.time = stopAt;
      await recorder.close();
      clock.time = restartAt;
      recorder = open();
      await recorder.restore();
      recorder.start();
    }
    clock.time = t;
    const aDown = t >= NOV + 9 * DAY + 9 * HOUR && t < NOV + 9 * DAY + 11 * HOUR;
    const bDown = t >= NOV + 19 * DAY + 12 * HOUR && t < NOV + 19 * DAY + 13 * HOUR;
    recorder.listener(aDown ? failed({ monitor: 'probe-a', at: t, reason: 'token_secret_expired', stage: 'token' }) : passed({ monitor: 'probe-a', at: t }), TEN_MINUTES);
    const b: CheckResult = bDown ? failed({ monitor: 'probe-b', check: 'smtp', at: t, reason: 'connect_refused', stage: 'connect' }) : passed({ monitor: 'probe-b', check: 'smtp', at: t });
    recorder.listener({ ...b, tenant: 'fabrikam', mailbox: 'probe@fabrikam.com' }, TEN_MINUTES);
    if ((t - NOV) % DAY === 0) await recorder.flush();
  }
  clock.time = DEC;
  await recorder.close();
}
