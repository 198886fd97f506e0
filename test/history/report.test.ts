import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DEFAULT_POLICY, type AccountingPolicy } from '../../src/history/accounting.js';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import { monthRange } from '../../src/history/calendar.js';
import { buildReport, resolvePeriod, type ConfiguredCheck } from '../../src/history/report.js';
import { renderReport } from '../../src/history/report-format.js';
import type { HistoryStore } from '../../src/history/types.js';
import { failed, passed } from '../alerting/support.js';
import { delegatingStore } from '../support/delegating-store.js';
import { playHistory } from '../support/played-history.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
// A fixed month, whatever today's date: November 2030, in UTC.
const { from: NOV, to: DEC } = monthRange('2030-11', 'UTC');

const configured: ConfiguredCheck[] = ['a', 'b'].map((name) => ({
  monitor: `probe-${name}`,
  tenant: 'contoso',
  check: 'imap' as const,
}));

/**
 * November 2030, every 5 minutes: probe-a fails from the 10th 09:00 for 2 hours (token_secret_expired) and
 * once for a single run on the 20th (a blip); the agent is stopped on the 15th from 00:00 to 06:00; probe-b
 * is healthy throughout.
 */
async function november(store: HistoryStore): Promise<void> {
  await playHistory(store, {
    from: NOV,
    to: DEC,
    stepMs: 5 * MIN,
    intervalSeconds: 300,
    stop: { from: NOV + 14 * DAY, to: NOV + 14 * DAY + 6 * HOUR },
    results: (t) => {
      const outage = t >= NOV + 9 * DAY + 9 * HOUR && t < NOV + 9 * DAY + 11 * HOUR;
      const blip = t === NOV + 19 * DAY + 12 * HOUR;
      const a = outage
        ? failed({ monitor: 'probe-a', at: t, reason: 'token_secret_expired', stage: 'token' })
        : blip
          ? failed({ monitor: 'probe-a', at: t, reason: 'connect_refused', stage: 'connect' })
          : passed({ monitor: 'probe-a', at: t });
      return [a, passed({ monitor: 'probe-b', at: t })];
    },
  });
}

describe('SLA report', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-report-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let shared: HistoryStore | undefined;
  const store = async (): Promise<HistoryStore> => {
    if (!shared) {
      shared = await openSqliteStore(join(dir, 'history.sqlite'), { now: NOV });
      await november(shared);
    }
    return shared;
  };
  after(async () => shared?.close());

  test('availability, SLO, error budget, incidents with fixes, and the agent stop as unknown', async () => {
    const report = await buildReport({ store: await store(), policy: DEFAULT_POLICY, configured }, { from: NOV, to: DEC, now: DEC + DAY, label: '2030-11' });
    const a = report.checks.find((check) => check.monitor === 'probe-a');
    const b = report.checks.find((check) => check.monitor === 'probe-b');
    assert.ok(a && b);
    const month = 30 * 86_400;
    const stopped = 6 * 3600 - 30; // the last result before the stop covers 330 s, 30 s into the stop
    assert.equal(a.failSeconds, 2 * 3600 + 300);
    assert.equal(a.unknownSeconds, stopped);
    assert.equal(a.agentDownSeconds, stopped);
    assert.equal(a.okSeconds, month - stopped - a.failSeconds);
    assert.ok(Math.abs((a.availability ?? 0) - a.okSeconds / (month - stopped)) < 1e-9);
    assert.equal(a.target, 99.5, "the default target, the shipped rules' slo_target");
    assert.equal(a.sloMet, true, '2 h 5 min of 30 days is within 99.5 %');
    assert.equal(a.errorBudget.totalSeconds, Math.round(0.005 * (month - stopped)));
    assert.equal(a.errorBudget.usedSeconds, a.failSeconds);
    assert.equal(a.errorBudget.leftSeconds, a.errorBudget.totalSeconds - a.failSeconds);
    assert.equal(b.availability, 1);
    assert.equal(b.sloMet, true);
    assert.equal(b.unknownSeconds, stopped, 'time the agent was stopped is UNKNOWN, not up');
    assert.equal(a.runs, (month - 6 * 3600) / 300);
    assert.equal(a.failures, 25);
    assert.deepEqual(
      report.incidents.map((incident) => [incident.monitor, incident.reason, incident.startedAt, incident.durationSeconds, incident.outage]),
      [
        ['probe-a', 'connect_refused', new Date(NOV + 19 * DAY + 12 * HOUR).toISOString(), 300, true],
        ['probe-a', 'token_secret_expired', new Date(NOV + 9 * DAY + 9 * HOUR).toISOString(), 7200, true],
      ],
    );
    assert.equal(report.incidents[1]?.fix, 'fix for token_secret_expired', 'the first fix diagnosed at the incident’s first failure');
    // each incident keeps its monitor's cause; one tenant's unreachable server alone cannot tell the service from the network
    assert.deepEqual(
      report.incidents.map((incident) => incident.cause),
      ['unknown', 'identity'],
    );
    assert.deepEqual(report.lostByCause, [
      { cause: 'identity', outages: 1, failSeconds: 7200 },
      { cause: 'unknown', outages: 1, failSeconds: 300 },
    ]);
    assert.match(renderReport(report, 'text'), /\n {4}cause: identity\n[\s\S]*Outage time by cause:\n {2}identity +2 h/);
    assert.match(renderReport(report, 'md'), /\| reason \| cause \| fix \|[\s\S]*\| token_secret_expired \| identity \| fix for token_secret_expired \|/);
    assert.match(renderReport(report, 'html'), /<th>cause<\/th>[\s\S]*<td><code>identity<\/code><\/td>/);
    assert.equal(report.summary.mttrSeconds, Math.round((300 + 7200) / 2));
    assert.equal(report.tenants[0]?.tenant, 'contoso');
    assert.deepEqual(report.agentDown, [
      { from: new Date(NOV + 14 * DAY).toISOString(), to: new Date(NOV + 14 * DAY + 6 * HOUR).toISOString(), seconds: 6 * 3600 },
    ]);
    assert.ok(a.durationSeconds.p50 !== null && a.durationSeconds.p50 > 0.25 && a.durationSeconds.p50 <= 0.5, String(a.durationSeconds.p50));
  });

  test('checks are in the same order whatever order the store answers in, names the collator holds equal too', async () => {
    const equal = await openSqliteStore(join(dir, 'equal-names.sqlite'), { now: NOV });
    try {
      // "café" precomposed and with a combining accent: the collator holds them equal.
      const names = ['caf\u00e9', 'cafe\u0301', 'probe'];
      await playHistory(equal, {
        from: NOV,
        to: NOV + HOUR,
        stepMs: 5 * MIN,
        intervalSeconds: 300,
        results: (t) => names.map((monitor) => passed({ monitor, at: t })),
      });
      const query = { from: NOV, to: DEC, now: DEC + DAY, label: '2030-11' };
      const reversed = delegatingStore(equal, { checkSpans: async (asked) => (await equal.checkSpans(asked)).reverse() });
      const [asAnswered, asReversed] = await Promise.all([
        buildReport({ store: equal, policy: DEFAULT_POLICY, configured: [] }, query),
        buildReport({ store: reversed, policy: DEFAULT_POLICY, configured: [] }, query),
      ]);
      assert.deepEqual(
        asAnswered.checks.map((check) => check.monitor),
        ['cafe\u0301', 'caf\u00e9', 'probe'],
      );
      assert.deepEqual(asReversed, asAnswered);
    } finally {
      await equal.close();
    }
  });

  test('the days before the agent first ran are not listed as the agent not running', async () => {
    // The history begins on 1 November; a report from 25 October had listed 25–31 October as agent downtime.
    const report = await buildReport(
      { store: await store(), policy: DEFAULT_POLICY, configured },
      { from: NOV - 7 * DAY, to: NOV + 5 * DAY, now: DEC, label: 'late October' },
    );
    assert.deepEqual(report.agentDown, []);
    assert.equal(report.summary.unknownSeconds, 0);
    assert.doesNotMatch(renderReport(report, 'text'), /not running/);
  });

  test('maintenance is excluded, blips are forgiven, unknown can count as down, and targets are per check', async () => {
    const policy: AccountingPolicy = {
      ...DEFAULT_POLICY,
      unknownCountsAsDown: true,
      minimumOutage: { failures: 2, seconds: 0 },
      // The outage on the 10th fell in a change window.
      maintenance: [{ name: 'token rotation', timeZone: 'UTC', start: '2030-11-10T09:00', end: '2030-11-10T11:00' }],
      target: (check) => (check.monitor === 'probe-b' ? 99.99 : 99),
    };
    const report = await buildReport({ store: await store(), policy, configured }, { from: NOV, to: DEC, now: DEC + DAY, label: '2030-11' });
    const a = report.checks.find((check) => check.monitor === 'probe-a');
    const b = report.checks.find((check) => check.monitor === 'probe-b');
    assert.ok(a && b);
    assert.equal(a.maintenanceSeconds, 7200);
    assert.equal(a.failSeconds, 0, 'the 2 h are maintenance; the single failed run is a blip');
    assert.equal(a.forgivenSeconds, 300);
    const stopped = 6 * 3600 - 30;
    assert.ok(Math.abs((b.availability ?? 0) - (1 - stopped / (30 * 86_400 - 7200))) < 1e-9, 'unknown counts as down (maintenance is out of both)');
    assert.equal(b.target, 99.99);
    assert.equal(b.sloMet, false);
    assert.equal(a.target, 99);
    assert.deepEqual(report.excluded, [{ name: 'token rotation', from: '2030-11-10T09:00:00.000Z', to: '2030-11-10T11:00:00.000Z', scope: 'all checks' }]);
    assert.equal(report.incidents.find((incident) => incident.reason === 'connect_refused')?.outage, false);
  });

  test('a window over parts of hours takes those parts from the raw results and the whole hours from the rollups', async () => {
    // 08:30-10:30 on the 10th: 08:30-09:00 and 10:00-10:30 are parts of hours, 09:00-10:00 a whole one. The
    // outage ran 09:00-11:00: its last half hour is outside the window.
    const policy: AccountingPolicy = {
      ...DEFAULT_POLICY,
      maintenance: [
        { name: 'token rotation', timeZone: 'UTC', start: '2030-11-10T08:30', end: '2030-11-10T10:30' },
        { name: 'other tenant', timeZone: 'UTC', tenants: ['fabrikam'], recurring: { at: '03:00', durationMinutes: 60 } },
      ],
    };
    const report = await buildReport({ store: await store(), policy, configured }, { from: NOV, to: DEC, now: DEC + DAY, label: '2030-11' });
    const a = report.checks.find((check) => check.monitor === 'probe-a');
    const b = report.checks.find((check) => check.monitor === 'probe-b');
    assert.ok(a && b);
    assert.equal(a.maintenanceSeconds, 7200);
    assert.equal(a.failSeconds, 1800 + 300, 'the outage after the window and the blip');
    assert.equal(b.maintenanceSeconds, 7200);
    assert.equal(b.failSeconds, 0);
    assert.deepEqual(report.excluded, [{ name: 'token rotation', from: '2030-11-10T08:30:00.000Z', to: '2030-11-10T10:30:00.000Z', scope: 'all checks' }]);
  });

  test('a period that does not start on the hour is rebuilt from raw results, as exact as the rollups', async () => {
    const from = NOV + 9 * DAY + 9 * HOUR + 30 * MIN;
    const report = await buildReport(
      { store: await store(), policy: DEFAULT_POLICY, configured },
      { from, to: from + 4 * HOUR, now: DEC + DAY, label: 'custom' },
    );
    const a = report.checks.find((check) => check.monitor === 'probe-a');
    assert.equal(a?.failSeconds, 90 * 60);
    assert.equal(a?.okSeconds, 150 * 60);
    assert.equal(a?.runs, 48);
  });

  test('every format renders; the HTML is one file without scripts or external resources', async () => {
    const report = await buildReport({ store: await store(), policy: DEFAULT_POLICY, configured }, { from: NOV, to: DEC, now: DEC + DAY, label: '2030-11' });
    const text = renderReport(report, 'text');
    assert.match(text, /Availability report 2030-11/);
    assert.match(text, /token_secret_expired at token/);
    const md = renderReport(report, 'md');
    assert.match(md, /^# Availability report 2030-11/);
    assert.match(md, /\| probe-a \| imap \|/);
    const csv = renderReport(report, 'csv').trimEnd().split('\r\n');
    assert.equal(csv.length, 3);
    assert.match(csv[0] ?? '', /^period,tenant,monitor,check,availability_percent,target_percent,slo_met/);
    // Both in percent, as a spreadsheet compares them: probe-b was up all month, probe-a short of it.
    const columns = (csv[0] ?? '').split(',');
    const cell = (row: string | undefined, name: string): string => row?.split(',')[columns.indexOf(name)] ?? '';
    assert.equal(cell(csv[2], 'availability_percent'), '100');
    assert.equal(cell(csv[2], 'target_percent'), '99.5');
    assert.equal(cell(csv[2], 'coverage_percent'), String(Math.round((1 - (6 * 3600 - 30) / (30 * 86_400)) * 1_000_000) / 10_000));
    assert.match(cell(csv[1], 'availability_percent'), /^99\.\d{1,4}$/);
    const html = renderReport(report, 'html');
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /@media print/);
    assert.doesNotMatch(html, /<script|<link|src=|url\(/i);
    assert.deepEqual(JSON.parse(renderReport(report, 'json')), JSON.parse(JSON.stringify(report)));
  });

  test('periods are calendar months in the configured zone', () => {
    const now = Date.UTC(2030, 11, 3, 12);
    assert.deepEqual(resolvePeriod({ period: '2030-11' }, 'Europe/Berlin', now), {
      from: Date.UTC(2030, 9, 31, 23),
      to: Date.UTC(2030, 10, 30, 23),
      label: '2030-11',
    });
    assert.equal(resolvePeriod({}, 'UTC', now).label, '2030-11', 'the default is the previous month');
    assert.equal(resolvePeriod({ period: 'this' }, 'UTC', now).label, '2030-12');
    assert.deepEqual(resolvePeriod({ from: '2030-11-03', to: '2030-11-04T06:30' }, 'Europe/Berlin', now), {
      from: Date.UTC(2030, 10, 2, 23),
      to: Date.UTC(2030, 10, 4, 5, 30),
      label: '2030-11-03 – 2030-11-04T06:30',
    });
    assert.throws(() => resolvePeriod({ period: '2030-13' }, 'UTC', now), /not a month/);
    assert.throws(() => resolvePeriod({ from: '2030-11-05', to: '2030-11-04' }, 'UTC', now), /must be after/);
    // DST: the last Sunday of March in Berlin has 23 hours.
    const march = monthRange('2031-03', 'Europe/Berlin');
    assert.equal((march.to - march.from) / HOUR, 31 * 24 - 1);
  });
});
