import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CheckKind } from '../../src/core/check.js';
import type { CheckResult } from '../../src/core/result.js';
import { DEFAULT_POLICY, DEFAULT_SLO_TARGET, type AccountingPolicy } from '../../src/history/accounting.js';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import { buildReport, type ConfiguredCheck } from '../../src/history/report.js';
import type { HistoryStore } from '../../src/history/types.js';
import { failed, passed } from '../alerting/support.js';
import { playHistory } from '../support/played-history.js';
import { SLA_DEFAULTS } from '../../src/config/history.js';
import { parseRuleFile, repoPath, runPromtool } from '../support/promtool.js';

// One synthetic history, fed both to the history store + SLA report and, as the series the agent would have
// exported, to the shipped recording rules under promtool: the report's availability of a period must equal
// mailprobe:check_availability:ratio_rate<w> at the period's end (README, "Accounting"; deploy/README.md, "SLO").

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const INTERVAL_S = 300;
const SCRAPE_MS = 5 * MIN;
// promtool's time 0 is this instant of the history; a fixed date, whatever today's is.
const START = Date.parse('2030-11-01T00:00:00.000Z');
const END = START + 4 * DAY;
/** The agent is stopped for 6 hours: no runs, no scrapes, and its counters start again from 0. */
const STOP = { from: START + 14 * HOUR, to: START + 20 * HOUR };
const WINDOWS = [
  { name: '1d', ms: DAY },
  { name: '3d', ms: 3 * DAY },
  { name: '30d', ms: 30 * DAY },
] as const;
const AGENT = { job: 'mailprobe', instance: 'agent:9464' };
const TENANT = 'contoso';
const MAILBOX = 'probe@contoso.com';

interface SyntheticCheck {
  monitor: string;
  check: CheckKind;
  /** [from, to) offsets from START during which every run fails. */
  failing: ReadonlyArray<readonly [number, number]>;
}

const CHECKS: readonly SyntheticCheck[] = [
  // A 2-hour outage, and a single failed run (a blip) on day 3.
  {
    monitor: 'probe-a',
    check: 'imap',
    failing: [
      [1 * DAY + 9 * HOUR, 1 * DAY + 11 * HOUR],
      [2 * DAY + 12 * HOUR, 2 * DAY + 12 * HOUR + 1],
    ],
  },
  // Failing from the first run, and again until the end of the history: both edges of the windows.
  {
    monitor: 'probe-a',
    check: 'smtp',
    failing: [
      [0, 3 * HOUR],
      [3 * DAY + 20 * HOUR, 4 * DAY],
    ],
  },
  { monitor: 'probe-b', check: 'imap', failing: [] },
  // Failing right up to the agent's stop, and across a midnight.
  {
    monitor: 'probe-c',
    check: 'pop3',
    failing: [
      [10 * HOUR, 14 * HOUR],
      [1 * DAY + 23 * HOUR, 2 * DAY + 1 * HOUR],
    ],
  },
];

const keyOf = (check: { monitor: string; check: string }): string => `${check.monitor}/${check.check}`;
const running = (t: number): boolean => t < STOP.from || t >= STOP.to;

interface Run {
  check: SyntheticCheck;
  result: CheckResult;
  ok: boolean;
  finishedAt: number;
}

/** Every run of the history in start order: each check every INTERVAL_S while the agent runs. */
function history(): Run[] {
  const runs: Run[] = [];
  for (let t = START; t < END; t += INTERVAL_S * 1000) {
    if (!running(t)) continue;
    for (const check of CHECKS) {
      const ok = !check.failing.some(([from, to]) => t >= START + from && t < START + to);
      const identity = { monitor: check.monitor, check: check.check, at: t };
      const result = ok ? passed(identity) : failed({ ...identity, reason: 'auth_failed', stage: 'auth' });
      runs.push({ check, result, ok, finishedAt: t + result.durationSeconds * 1000 });
    }
  }
  return runs;
}

/** promtool's expanding notation for one sample per SCRAPE_MS from time 0; undefined is a missed scrape. */
function expand(values: ReadonlyArray<number | 'stale' | undefined>): string {
  const parts: string[] = [];
  let i = 0;
  while (i < values.length) {
    const first = values[i];
    if (first === undefined || first === 'stale') {
      let n = 1;
      while (values[i + n] === first) n += 1;
      parts.push(first === 'stale' ? Array<string>(n).fill('stale').join(' ') : `_x${n}`);
      i += n;
      continue;
    }
    const next = values[i + 1];
    const step = typeof next === 'number' ? next - first : 0;
    let n = 0;
    while (values[i + n + 1] === first + (n + 1) * step) n += 1;
    parts.push(`${first}${step < 0 ? '-' : '+'}${Math.abs(step)}x${n}`);
    i += n + 1;
  }
  return parts.join(' ');
}

const SCRAPES = Array.from({ length: (END - START) / SCRAPE_MS + 1 }, (_, i) => START + i * SCRAPE_MS);

/** A series' value at each scrape: missing while the agent is stopped, with a stale marker at the first miss. */
function scraped(valueAt: (at: number) => number | undefined): Array<number | 'stale' | undefined> {
  return SCRAPES.map((at) => (running(at) ? valueAt(at) : at - SCRAPE_MS < STOP.from ? 'stale' : undefined));
}

/** What the agent exports for the history: per-check counters (from 0 in each agent process) and success gauge. */
function agentSeries(runs: readonly Run[]): Array<{ series: string; values: string }> {
  const labels = (extra: Record<string, string>): string =>
    `{${Object.entries({ ...AGENT, ...extra })
      .map(([name, value]) => `${name}="${value}"`)
      .join(', ')}}`;
  const processStart = (at: number): number => (at >= STOP.to ? STOP.to : START);
  const series = [...new Set(CHECKS.map((check) => check.monitor))].map((monitor) => ({
    series: `mailprobe_monitor_info${labels({ monitor, tenant: TENANT, mailbox: MAILBOX })}`,
    values: expand(scraped(() => 1)),
  }));
  for (const check of CHECKS) {
    const own = runs.filter((run) => run.check === check);
    const finished = (at: number): Run[] => own.filter((run) => run.finishedAt <= at && run.finishedAt >= processStart(at));
    for (const result of ['success', 'failure'] as const) {
      series.push({
        series: `mailprobe_checks_total${labels({ monitor: check.monitor, check: check.check, result })}`,
        values: expand(scraped((at) => finished(at).filter((run) => run.ok === (result === 'success')).length)),
      });
    }
    series.push({
      series: `mailprobe_check_success${labels({ monitor: check.monitor, check: check.check })}`,
      values: expand(
        scraped((at) => {
          const latest = finished(at).at(-1);
          return latest === undefined ? undefined : latest.ok ? 1 : 0;
        }),
      ),
    });
  }
  return series;
}

interface WindowReport {
  window: (typeof WINDOWS)[number];
  /** Report availability (0..1) per check key. */
  availability: Map<string, number>;
  /**
   * Two runs' share of the window's accounted time. With a regular interval a run is one interval of time, so
   * the counts can differ only where a run falls on one side of a boundary for one of them: at the window's
   * start and end (the rule counts a run when it has finished and been scraped, the report from its start),
   * and at an agent stop (the last run before it may never be scraped, and the report gives it its interval
   * plus 10 %). No window here has more than two boundaries that cut between runs.
   */
  tolerance: number;
}

const configured: ConfiguredCheck[] = CHECKS.map((check) => ({
  monitor: check.monitor,
  check: check.check,
  tenant: TENANT,
  mailbox: MAILBOX,
  tenantId: '11111111-2222-3333-4444-555555555555',
  clientId: '10e1f456-3921-1234-1234-105af0774c61',
}));

async function reportWindows(store: HistoryStore, policy: AccountingPolicy): Promise<WindowReport[]> {
  return Promise.all(
    WINDOWS.map(async (window) => {
      const report = await buildReport({ store, policy, configured }, { from: END - window.ms, to: END, now: END, label: window.name });
      const availability = new Map<string, number>();
      let accounted = Number.POSITIVE_INFINITY;
      for (const check of report.checks) {
        assert.notEqual(check.availability, null, `${keyOf(check)} over ${window.name} has no availability`);
        availability.set(keyOf(check), check.availability ?? Number.NaN);
        accounted = Math.min(accounted, check.okSeconds + check.failSeconds);
      }
      return { window, availability, tolerance: (2 * INTERVAL_S) / accounted };
    }),
  );
}

const REPORT_SERIES = 'mailprobe_test_report_availability';

/** A promtool test file: the agent's series, the report's figures as series, and the comparison per window. */
function promtoolTest(runs: readonly Run[], reports: readonly WindowReport[]): string {
  const evalMinutes = (END - START) / MIN;
  const input = [
    ...agentSeries(runs),
    ...reports.flatMap(({ window, availability }) =>
      CHECKS.map((check) => ({
        series: `${REPORT_SERIES}{monitor="${check.monitor}", tenant="${TENANT}", mailbox="${MAILBOX}", check="${check.check}", window="${window.name}"}`,
        values: `${availability.get(keyOf(check)) ?? Number.NaN}x${evalMinutes}`,
      })),
    ),
  ];
  const cases = reports.flatMap(({ window, tolerance }) => {
    const rule = `mailprobe:check_availability:ratio_rate${window.name}`;
    const theirs = `ignoring (window) ${REPORT_SERIES}{window="${window.name}"}`;
    return [
      // Every check is compared: the rule and the report pair up for all of them.
      { expr: `count(${rule} and ${theirs})`, exp: [{ labels: '{}', value: CHECKS.length }] },
      // No check differs by more than the tolerance; a failure prints the check and the difference.
      { expr: `abs(${rule} - ${theirs}) > ${tolerance}`, exp: [] },
    ];
  });
  const lines = [
    'rule_files:',
    `  - ${JSON.stringify(repoPath('deploy/prometheus/recording-rules.yml'))}`,
    // The compared rules are in the long group, which keeps its own 5m; the short windows run hourly so that
    // promtool's step-by-step evaluation of four days stays a matter of seconds.
    'evaluation_interval: 1h',
    'group_eval_order: [mailprobe-slo, mailprobe-availability-short, mailprobe-availability-long]',
    'tests:',
    `  - interval: ${SCRAPE_MS / MIN}m`,
    '    input_series:',
    ...input.flatMap(({ series, values }) => [`      - series: ${JSON.stringify(series)}`, `        values: ${JSON.stringify(values)}`]),
    '    promql_expr_test:',
    ...cases.flatMap(({ expr, exp }) => [
      `      - expr: ${JSON.stringify(expr)}`,
      `        eval_time: ${evalMinutes}m`,
      exp.length === 0 ? '        exp_samples: []' : '        exp_samples:',
      ...exp.flatMap((sample) => [`          - labels: ${JSON.stringify(sample.labels)}`, `            value: ${sample.value}`]),
    ]),
  ];
  return `${lines.join('\n')}\n`;
}

describe('the SLA report and the shipped recording rules', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-report-rules-'));
  const runs = history();
  let store: HistoryStore | undefined;
  before(async () => {
    store = await openSqliteStore(join(dir, 'history.sqlite'), { now: START });
    const resultsAt = new Map<number, CheckResult[]>();
    for (const run of runs) resultsAt.set(run.result.startedAt, [...(resultsAt.get(run.result.startedAt) ?? []), run.result]);
    await playHistory(store, {
      from: START,
      to: END,
      stepMs: INTERVAL_S * 1000,
      intervalSeconds: INTERVAL_S,
      stop: STOP,
      results: (t) => resultsAt.get(t) ?? [],
    });
  });
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const promtool = async (name: string, reports: readonly WindowReport[]): Promise<{ code: number; output: string }> => {
    const file = join(dir, `${name}.yml`);
    writeFileSync(file, promtoolTest(runs, reports));
    const run = await runPromtool(['test', 'rules', file], 120_000);
    return { code: run.code, output: `${run.stdout}${run.stderr}` };
  };

  test('availability per check over 1d, 3d and 30d equals mailprobe:check_availability:ratio_rate<w> within two runs', async () => {
    assert.ok(store);
    const reports = await reportWindows(store, DEFAULT_POLICY);
    const month = reports.find((report) => report.window.name === '30d');
    assert.ok(month);
    // The history is not trivial: the streaks show in the report, far beyond the tolerance.
    assert.equal(month.availability.get('probe-b/imap'), 1);
    for (const key of ['probe-a/imap', 'probe-a/smtp', 'probe-c/pop3']) {
      const down = 1 - (month.availability.get(key) ?? 1);
      assert.ok(down > 10 * month.tolerance, `${key}: ${down} down against a tolerance of ${month.tolerance}`);
    }
    const run = await promtool('equal', reports);
    assert.equal(run.code, 0, run.output);
  });

  test('the comparison fails when one side counts differently: unknown time as down, a maintenance window', async () => {
    assert.ok(store);
    const unknownDown = await reportWindows(store, { ...DEFAULT_POLICY, unknownCountsAsDown: true });
    const maintenance = await reportWindows(store, {
      ...DEFAULT_POLICY,
      maintenance: [{ name: 'change', monitors: ['probe-a'], checks: ['imap'], timeZone: 'UTC', start: '2030-11-02T09:00', end: '2030-11-02T11:00' }],
    });
    const [down, window] = await Promise.all([promtool('unknown-down', unknownDown), promtool('maintenance', maintenance)]);
    assert.notEqual(down.code, 0, 'the agent stop counted as down must differ from the rules');
    // The stop lies in the 30d window only; every check was stopped.
    assert.match(down.output, /ratio_rate30d[\s\S]*probe-b/);
    assert.notEqual(window.code, 0, 'the outage inside a maintenance window must differ from the rules');
    // Only the check with the window, whose outage it hides, differs.
    assert.match(window.output, /check="imap", mailbox="probe@contoso.com", monitor="probe-a"/);
    assert.doesNotMatch(window.output, /monitor="probe-[bc]"|check="smtp"/);
  });

  test("the report's default SLO target is the shipped rules' slo_target", () => {
    const rule = parseRuleFile('deploy/prometheus/recording-rules.yml').find((entry) => entry.name === 'mailprobe:check_availability:slo_target');
    const ratio = /^vector\(([0-9.]+)\)$/.exec(rule?.expr ?? '')?.[1];
    assert.ok(ratio !== undefined, `slo_target is not a vector(<number>): ${rule?.expr}`);
    assert.equal(DEFAULT_SLO_TARGET, SLA_DEFAULTS.target);
    assert.equal(Math.round(Number(ratio) * 1e6) / 1e4, DEFAULT_SLO_TARGET, "change sla.target's default and the rule together");
  });
});
