import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import { historyMetrics } from '../../src/history/metrics.js';
import { HistoryRecorder } from '../../src/history/recorder.js';
import type { HistoryStore, WriteBatch } from '../../src/history/types.js';
import { failed, FakeClock, MemoryLogger, passed } from '../alerting/support.js';
import { delegatingStore } from '../support/delegating-store.js';
import { BASE } from './contract.js';
import { record } from '../support/fold.js';

const MIN = 60_000;
const job = { monitor: { intervalSeconds: 60 } };

/** A real SQLite store whose writes can be made to fail, as a full disk would. */
function breakable(store: HistoryStore): HistoryStore & { broken: boolean } {
  const wrapper = delegatingStore(store, {
    broken: false,
    write: async (batch: WriteBatch) => {
      if (wrapper.broken) throw new Error('SQLITE_FULL: database or disk is full');
      return store.write(batch);
    },
  });
  return wrapper;
}

describe('history recorder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-recorder-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a failing store is logged once and counted; results wait in memory and land when it recovers', async () => {
    const store = breakable(await openSqliteStore(join(dir, 'full.sqlite'), { now: BASE }));
    const clock = new FakeClock();
    clock.time = BASE;
    const logger = new MemoryLogger();
    const registry = new Registry();
    const recorder = new HistoryRecorder({ store, clock, logger, flushMs: 3_600_000, events: historyMetrics(registry, 'sqlite') });
    store.broken = true;
    for (let i = 0; i < 5; i++) {
      // The listener returns at once even while the store fails: the check path never waits for it.
      record(recorder, i === 2 ? failed({ at: BASE + i * MIN }) : passed({ at: BASE + i * MIN }), job);
      clock.time = BASE + i * MIN + 1;
      await recorder.flush();
    }
    assert.equal(logger.entries.filter((entry) => entry.level === 'error').length, 1, logger.messages().join('\n'));
    const text = await registry.metrics();
    assert.match(text, /mailprobe_history_writes_total\{backend="sqlite",result="failure"\} 5/);
    assert.match(text, /mailprobe_history_store_up\{backend="sqlite"\} 0/);
    assert.match(text, /mailprobe_history_pending_results\{backend="sqlite"\} 5/);

    store.broken = false;
    await recorder.flush();
    const rows = await store.results({ monitor: 'probe-contoso', check: 'imap', from: 0, to: BASE + 10 * MIN });
    assert.equal(rows.length, 5, 'nothing lost while the store was failing');
    const hours = await store.rollupTotals({ grain: 'hour', from: BASE, to: BASE + 3_600_000 });
    assert.equal(hours[0]?.runs, 5);
    assert.equal(hours[0]?.okMs, 3 * MIN, 'four finalised spans: three ok, one failed');
    assert.equal(hours[0]?.failMs, MIN);
    assert.match(await registry.metrics(), /mailprobe_history_store_up\{backend="sqlite"\} 1/);
    assert.ok(logger.messages().includes('history: store writable again'));
    await recorder.close();
    await store.close();
  });

  test('beyond the pending limit the oldest raw results are dropped and counted; rollups still add up', async () => {
    const store = breakable(await openSqliteStore(join(dir, 'drop.sqlite'), { now: BASE }));
    const clock = new FakeClock();
    clock.time = BASE;
    const registry = new Registry();
    const recorder = new HistoryRecorder({
      store,
      clock,
      logger: new MemoryLogger(),
      flushMs: 3_600_000,
      maxPending: 3,
      events: historyMetrics(registry, 'sqlite'),
    });
    store.broken = true;
    for (let i = 0; i < 6; i++) record(recorder, passed({ at: BASE + i * MIN }), job);
    await recorder.flush();
    store.broken = false;
    await recorder.flush();
    const rows = await store.results({ monitor: 'probe-contoso', check: 'imap', from: 0, to: BASE + 10 * MIN });
    assert.deepEqual(
      rows.map((row) => (row.startedAt - BASE) / MIN),
      [3, 4, 5],
    );
    assert.match(await registry.metrics(), /mailprobe_history_results_dropped_total\{backend="sqlite"\} 3/);
    const [hour] = await store.rollupTotals({ grain: 'hour', from: BASE, to: BASE + 3_600_000 });
    assert.equal(hour?.runs, 6);
    await recorder.close();
    await store.close();
  });

  test('the batch is one transaction: a crash before it commits leaves the store as it was', async () => {
    const file = join(dir, 'atomic.sqlite');
    const store = await openSqliteStore(file, { now: BASE });
    const clock = new FakeClock();
    clock.time = BASE;
    const recorder = new HistoryRecorder({ store, clock, logger: new MemoryLogger(), flushMs: 3_600_000 });
    record(recorder, passed({ at: BASE }), job);
    await recorder.flush();
    // A batch with a row the database rejects (NOT NULL) must leave no part of itself behind.
    await assert.rejects(
      store.write({
        results: [{ monitor: 'x', tenant: 't', mailbox: 'm', check: 'imap', startedAt: BASE + MIN, durationMs: 1, ok: true, steps: [], intervalS: 60 }],
        hourly: [],
        daily: [],
        monthly: [],
        incidents: [
          {
            monitor: 'x',
            tenant: 't',
            check: 'imap',
            startedAt: BASE,
            reason: null as unknown as string,
            stage: 'auth',
            failures: 1,
            failMs: 0,
            lastFailureAt: BASE,
          },
        ],
        checkStates: [],
      }),
    );
    assert.equal((await store.results({ monitor: 'x', check: 'imap', from: 0, to: BASE + 10 * MIN })).length, 0);
    await recorder.close();
    await store.close();
  });
});
