import type { CheckResult } from '../../src/core/result.js';
import { HistoryRecorder } from '../../src/history/recorder.js';
import type { HistoryStore } from '../../src/history/types.js';
import { FakeClock, MemoryLogger } from '../alerting/support.js';
import { record, restore } from './fold.js';

const DAY = 86_400_000;

/**
 * Records a synthetic stretch of history through the real recorder, as a running agent would: the results of
 * every step from `from` to `to`, a flush once a day, and the agent stopped (recorder closed, then restored)
 * over `stop`, so the store knows its running periods.
 */
export async function playHistory(
  store: HistoryStore,
  play: { from: number; to: number; stepMs: number; intervalSeconds: number; stop?: { from: number; to: number }; results: (t: number) => CheckResult[] },
): Promise<void> {
  const clock = new FakeClock();
  clock.time = play.from;
  const open = (): HistoryRecorder => new HistoryRecorder({ store, clock, logger: new MemoryLogger(), flushMs: 3_600_000 });
  let recorder = open();
  recorder.start();
  const job = { monitor: { intervalSeconds: play.intervalSeconds } };
  for (let t = play.from; t < play.to; t += play.stepMs) {
    if (play.stop && t >= play.stop.from && t < play.stop.to) continue;
    if (play.stop && t === play.stop.to) {
      clock.time = play.stop.from;
      await recorder.close();
      clock.time = play.stop.to;
      recorder = open();
      await restore(recorder);
      recorder.start();
    }
    clock.time = t;
    for (const result of play.results(t)) record(recorder, result, job);
    if ((t - play.from) % DAY === 0) await recorder.flush();
  }
  clock.time = play.to;
  await recorder.close();
}
