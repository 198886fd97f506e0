import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import { historyMetrics } from '../../src/history/metrics.js';
import { HistoryRecorder, type PendingRows } from '../../src/history/recorder.js';
import { failed, FakeClock, MemoryLogger, passed } from '../alerting/support.js';
import { delegatingStore } from '../support/delegating-store.js';
import { record } from '../support/fold.js';

// Issue 25 row 2: while the history store failed, check-state and incident rows were re-queued on every failed
// write, forever (300k failed writes: 744 MB heap). Here 100 checks flap against a store that always fails, for
// ten times the pending cap; what waits must stay bounded by key: one state per check, the cap for the rest.

const CAP = 1_000;
const CHECKS = 100;
const BASE = Date.UTC(2030, 0, 1);

describe('a history store that fails for ten times the pending cap', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-hostile-backlog-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('pending rows stay bounded by key, and every result dropped is counted', async () => {
    const real = await openSqliteStore(join(dir, 'history.sqlite'), { now: BASE });
    const store = delegatingStore(real, {
      write: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      },
    });
    const clock = new FakeClock();
    clock.time = BASE;
    const registry = new Registry();
    const events = historyMetrics(registry, 'postgres');
    const seen: PendingRows[] = [];
    let dropped = 0;
    const recorder = new HistoryRecorder({
      store,
      clock,
      logger: new MemoryLogger(),
      flushMs: 3_600_000,
      maxPending: CAP,
      events: { ...events, onPending: (rows) => (seen.push(rows), events.onPending?.(rows)), onDrop: (n) => ((dropped += n), events.onDrop?.(n)) },
    });
    try {
      const total = 10 * CAP;
      for (let i = 0; i < total; i++) {
        const at = BASE + i * 1000;
        clock.time = at;
        const monitor = `probe-${i % CHECKS}`;
        // Each check flaps every few runs, so incidents open and close all through the outage.
        record(recorder, Math.floor(i / CHECKS) % 3 === 0 ? failed({ monitor, at }) : passed({ monitor, at }), { monitor: { intervalSeconds: 100 } });
        if (i % 50 === 49) await recorder.flush();
      }
      const last = seen.at(-1);
      assert.ok(last);
      assert.equal(last.results, CAP, 'results capped');
      assert.ok(
        seen.every((rows) => rows.checkStates <= CHECKS),
        `at most one pending state per check (max ${Math.max(...seen.map((rows) => rows.checkStates))})`,
      );
      assert.ok(
        seen.every((rows) => rows.incidents <= CAP),
        `incidents capped (max ${Math.max(...seen.map((rows) => rows.incidents))})`,
      );
      assert.ok(dropped >= total - CAP, `dropped ${dropped}`);
      const text = await registry.metrics();
      assert.match(text, /mailprobe_history_pending_rows\{backend="postgres",kind="check_states"\} 100/);
      assert.match(text, new RegExp(`mailprobe_history_results_dropped_total\\{backend="postgres"\\} ${dropped}`));
    } finally {
      await real.close();
    }
  });
});
