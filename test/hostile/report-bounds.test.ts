import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DEFAULT_POLICY, type AccountingPolicy } from '../../src/history/accounting.js';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import { monthRange } from '../../src/history/calendar.js';
import { buildReport, resolvePeriod } from '../../src/history/report.js';
import { statusRoute } from '../../src/http/status/routes.js';
import type { StatusSource } from '../../src/http/status/model.js';
import { passed } from '../alerting/support.js';
import { playHistory } from '../support/played-history.js';

// Issue 25 row 1: a report asked from the year 1900 held the event loop for 8 s and answered 7.3 MB, because
// recurring maintenance windows were expanded day by day from the caller's `from`.

const DAY = 86_400_000;
const { from: NOV, to: DEC } = monthRange('2030-11', 'UTC');

describe('hostile report periods', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-hostile-report-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a period from the year 100 starts no earlier than the oldest history the store keeps', () => {
    const now = DEC + 3 * DAY;
    const period = resolvePeriod({ from: '0100-01-01' }, 'UTC', now, 400);
    assert.equal(period.from, now - 400 * DAY);
    assert.equal(period.to, now);
    assert.equal(period.label, '0100-01-01 – now', "the label keeps the reader's words");
    assert.throws(() => resolvePeriod({ from: '1900-01-01', to: '1900-02-01' }, 'UTC', now, 400), /ended before the oldest history kept \(400 days/);
    const far = resolvePeriod({ from: '2030-11-01', to: '9999-01-01' }, 'UTC', now, 400);
    assert.equal(far.to, monthRange('2030-12', 'UTC').to, 'no later than the end of this month');
  });

  test('recurring maintenance windows are expanded over the data, not over the period asked', async () => {
    const store = await openSqliteStore(join(dir, 'history.sqlite'), { now: NOV });
    try {
      await playHistory(store, { from: NOV, to: DEC, stepMs: 3_600_000, intervalSeconds: 3600, results: (t) => [passed({ monitor: 'probe-a', at: t })] });
      const policy: AccountingPolicy = {
        ...DEFAULT_POLICY,
        maintenance: [{ name: 'nightly', timeZone: 'UTC', recurring: { at: '02:00', durationMinutes: 30 } }],
      };
      const report = await buildReport(
        { store, policy, configured: [{ monitor: 'probe-a', tenant: 'contoso', check: 'imap' }] },
        { from: Date.UTC(1900, 0, 1), to: DEC, now: DEC, label: '1900-01-01 – 2030-12-01' },
      );
      assert.equal(report.excluded.length, 30, 'one window per day of November 2030, where probe-a has data');
      assert.equal(report.excluded[0]?.from, '2030-11-01T02:00:00.000Z');
      assert.equal(report.checks[0]?.maintenanceSeconds, 30 * 30 * 60);
    } finally {
      await store.close();
    }
  });

  test('uptime badges read history and so count as heavy requests; state badges do not', () => {
    const source = { settings: () => ({ public: true }) } as unknown as StatusSource;
    assert.equal(statusRoute(source, '/status/badge/probe-a/imap/uptime-30d.svg')?.heavy, true);
    assert.equal(statusRoute(source, '/status/badge/probe-a/imap/state.svg')?.heavy, false);
  });
});
