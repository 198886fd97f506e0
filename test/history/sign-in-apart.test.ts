import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DEFAULT_POLICY } from '../../src/history/accounting.js';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import { monthRange } from '../../src/history/calendar.js';
import { buildReport } from '../../src/history/report.js';
import { renderReport } from '../../src/history/report-format.js';
import { failed, passed } from '../alerting/support.js';
import { playHistory } from '../support/played-history.js';

// A delegated monitor whose user had to sign in again is not the mailbox down: the SLA report counts that time
// apart (signInSeconds), out of availability and the error budget, while a real outage of the same check counts.

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const { from: NOV, to: DEC } = monthRange('2030-11', 'UTC');

describe('SLA report: a lapsed sign-in', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-signin-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('is counted apart from outages, and its incident says so', async () => {
    const store = await openSqliteStore(join(dir, 'history.sqlite'), { now: NOV });
    try {
      const lapsed = (t: number): boolean => t >= NOV + 4 * DAY + 9 * HOUR && t < NOV + 4 * DAY + 12 * HOUR;
      const down = (t: number): boolean => t >= NOV + 11 * DAY + 9 * HOUR && t < NOV + 11 * DAY + 10 * HOUR;
      await playHistory(store, {
        from: NOV,
        to: DEC,
        stepMs: 5 * MIN,
        intervalSeconds: 300,
        results: (t) => [
          lapsed(t)
            ? failed({ monitor: 'probe-user', at: t, reason: 'signin_lapsed_inactive', stage: 'token' })
            : down(t)
              ? failed({ monitor: 'probe-user', at: t, reason: 'connect_refused', stage: 'connect' })
              : passed({ monitor: 'probe-user', at: t }),
        ],
      });
      const report = await buildReport(
        { store, policy: DEFAULT_POLICY, configured: [{ monitor: 'probe-user', tenant: 'contoso', check: 'imap' }] },
        { from: NOV, to: DEC, now: DEC + DAY, label: '2030-11' },
      );
      const check = report.checks[0];
      assert.ok(check);
      const month = 30 * 86_400;
      assert.equal(check.signInSeconds, 3 * 3600);
      assert.equal(check.failSeconds, 3600, 'only the connection outage is down');
      assert.equal(check.unknownSeconds, 0);
      assert.equal(check.okSeconds, month - 4 * 3600);
      assert.equal(check.availability, check.okSeconds / (check.okSeconds + 3600));
      assert.equal(check.errorBudget.usedSeconds, 3600);
      assert.equal(report.tenants[0]?.signInSeconds, 3 * 3600);
      assert.deepEqual(
        report.incidents.map((incident) => [incident.reason, incident.category, incident.durationSeconds]),
        [
          ['connect_refused', 'transport', 3600],
          ['signin_lapsed_inactive', 'signin', 3 * 3600],
        ],
      );
      const csv = renderReport(report, 'csv');
      assert.match(csv.split('\r\n')[0] ?? '', /,agent_down_seconds,sign_in_seconds,/);
      assert.match(renderReport(report, 'text'), /a delegated monitor whose user must sign in again is counted apart, not as down/);
    } finally {
      await store.close();
    }
  });
});
