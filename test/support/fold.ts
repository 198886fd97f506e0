import type { CheckResult } from '../../src/core/result.js';
import { checkKey, foldInto, type CheckState, type ResultEvent } from '../../src/core/state.js';
import type { HistoryRecorder, RestoredCheck } from '../../src/history/recorder.js';
import { MonitorCauses } from '../../src/runner/causes.js';

/** Folds results the way the agent does, for tests that feed a consumer by hand: one state per check. */
export function folding(saved: ReadonlyMap<string, CheckState> = new Map()): (result: CheckResult) => ResultEvent {
  const states = new Map(saved);
  return (result) => foldInto(states, result);
}

/** Folds and attributes results the way the agent does: each event carries its monitor's cause. */
export function attributing(saved: ReadonlyMap<string, CheckState> = new Map()): (result: CheckResult) => ResultEvent {
  const states = new Map(saved);
  const causes = new MonitorCauses();
  return (result) => foldInto(states, result, causes.observe(result));
}

const recorderFolds = new WeakMap<HistoryRecorder, (result: CheckResult) => ResultEvent>();

/** Hands a result to a recorder as the agent does: attributed and folded first, from what the recorder restored if it did. */
export function record(recorder: HistoryRecorder, result: CheckResult, job?: { monitor: { intervalSeconds: number } }): void {
  let fold = recorderFolds.get(recorder);
  if (!fold) recorderFolds.set(recorder, (fold = attributing()));
  recorder.listener(fold(result), job);
}

/** Restores a recorder and resumes its fold from the stored states, as the daemon does. */
export async function restore(recorder: HistoryRecorder): Promise<RestoredCheck[]> {
  const restored = await recorder.restore();
  recorderFolds.set(recorder, attributing(new Map(restored.map((check) => [checkKey(check.row), check.state]))));
  return restored;
}
