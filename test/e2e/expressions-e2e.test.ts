import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../support/agent-process.js';
import { writeMonitors } from '../support/monitors.js';
import { startPrometheus, writeTestRuleFiles, type Prometheus, type PromSample } from '../support/prometheus.js';
import {
  conditionFreeExpression,
  DEFAULT_VARIABLE_VALUES,
  dashboardQueries,
  recordedNames,
  ruleDefinitions,
  substituteDashboardVariables,
} from '../support/promtool.js';
import { DEFAULT_DOMAIN, startTestbed, type Testbed } from '../support/testbed/index.js';
import { pickPorts } from '../support/testbed/ports.js';

// Every PromQL expression mailprobe ships (dashboard panels and variables, recording rules, alert rules),
// evaluated by a real Prometheus that scraped `mailprobe run` against the real test bed.
//
// Healthy monitors run imap, pop3, smtp and roundtrip checks. Four panels only ever show failures (current
// failure reasons, consecutive failures, failures by reason, skipped runs), and the cause alerts only join
// failure series, so two
// broken monitors are seeded beside them: one whose mailbox lost FullAccess (auth), one whose servers accept
// connections and never answer (timeouts, and runs skipped because the previous one is still going).
//
// The rule for alerts: an alert is rightly empty on a healthy run, so the test evaluates its condition-free form
// (conditionFreeExpression: comparisons become `bool`, `or`/`unless` become `and`, `absent(X)` becomes X), which
// is non-empty only when every selector finds the agent's series and every `on (...)` join pairs them up.

const EVERY_TWO_SECONDS = '*/2 * * * * *';
const EVERY_THREE_SECONDS = '*/3 * * * * *';
const EVERY_SECOND = '* * * * * *';
const RT_MAILBOX = `rt@${DEFAULT_DOMAIN}`;
const HANG_MAILBOX = `hang@${DEFAULT_DOMAIN}`;
/** The healthy mailboxes (probe@, rt@), as a $mailbox selection. */
const HEALTHY_MAILBOXES = `(probe|rt)@.*`;
/** Panels that show failures only: empty for a healthy mailbox, fed here by the seeded broken monitors. */
const FAILURE_ONLY_PANELS = new Set(['Current failures', 'Consecutive failures', 'Failures by reason, all monitors (time range)', 'Skipped runs']);
const SETTLE_TIMEOUT_MS = 45_000;
// The test bed's monitors sign in with a client secret; these alerts read series that only delegated monitors have
// (mailprobe_signin_*, failures of category signin), so promtool's tests (deploy/prometheus/tests/credentials.yml) and the metrics unit test
// check them instead.
const DELEGATED_ONLY_ALERTS = new Set(['MailprobeSignInLapsingSoon', 'MailprobeSignInLapsingCritical', 'MailprobeSignInEnded']);

interface Expression {
  /** Where it comes from, for failure messages. */
  source: string;
  expr: string;
}

interface Verdict extends Expression {
  samples?: PromSample[];
  error?: string;
}

let bed: Testbed;
let agent: AgentProcess | undefined;
let prometheus: Prometheus | undefined;
let hangServer: Server | undefined;
const hangSockets = new Set<Socket>();
let rulesDir: string | undefined;

/** A server that accepts connections and never says a word, so every check against it times out. */
async function startHangServer(): Promise<number> {
  hangServer = createServer((socket) => {
    hangSockets.add(socket);
    socket.on('close', () => hangSockets.delete(socket));
  });
  await new Promise<void>((resolve) => hangServer?.listen(0, '127.0.0.1', resolve));
  const address = hangServer.address();
  if (typeof address !== 'object' || address === null) throw new Error('hang server has no port');
  return address.port;
}

function dashboardExpressionsFor(mailbox: string): Expression[] {
  return dashboardQueries().map((query) => ({
    source: `dashboard "${query.source}" ${query.refId}`,
    expr: substituteDashboardVariables(query.expr, { ...DEFAULT_VARIABLE_VALUES, mailbox }),
  }));
}

function ruleExpressionSet(): Expression[] {
  const rules = ruleDefinitions();
  return [
    ...rules.filter((rule) => rule.kind === 'record').map((rule) => ({ source: `recording rule ${rule.name}`, expr: rule.expr })),
    // What Prometheus stored from each recording rule: proves the rule groups really ran over this data.
    ...recordedNames().map((name) => ({ source: `recorded series ${name}`, expr: name })),
    ...rules
      .filter((rule) => rule.kind === 'alert' && !DELEGATED_ONLY_ALERTS.has(rule.name))
      .map((rule) => ({ source: `alert ${rule.name} (condition-free)`, expr: conditionFreeExpression(rule.expr) })),
  ];
}

async function evaluate(expressions: readonly Expression[]): Promise<Verdict[]> {
  const api = prometheus;
  if (api === undefined) throw new Error('prometheus not started');
  return Promise.all(
    expressions.map(async (expression) => {
      try {
        return { ...expression, samples: await api.query(expression.expr) };
      } catch (error) {
        return { ...expression, error: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
}

/** Has data: at least one sample with a finite value (NaN from a rate over nothing does not count). */
function hasData(verdict: Verdict): boolean {
  return (verdict.samples ?? []).some((sample) => Number.isFinite(sample.value));
}

function describeVerdict(verdict: Verdict): string {
  const what = verdict.error ?? (verdict.samples?.length ? `only non-finite values: ${JSON.stringify(verdict.samples.slice(0, 3))}` : 'empty result');
  return `${verdict.source}: ${what}\n    ${verdict.expr.replaceAll('\n', '\n    ')}`;
}

/**
 * Evaluates until `done` holds or the timeout passes; returns the last verdicts either way, for the caller to assert
 * on. A check on a loaded machine may miss a run or fail one; the state a test expects is waited for, not sampled once.
 */
async function settle(
  expressions: readonly Expression[],
  timeoutMs: number,
  done: (verdicts: Verdict[]) => boolean = (verdicts) => verdicts.every(hasData),
): Promise<Verdict[]> {
  const api = prometheus;
  if (api === undefined) throw new Error('prometheus not started');
  let verdicts: Verdict[] = [];
  await api
    .waitFor(
      'the expressions to settle',
      async () => {
        verdicts = await evaluate(expressions);
        return done(verdicts) ? true : undefined;
      },
      timeoutMs,
    )
    .catch(() => undefined);
  return verdicts;
}

function panelSamples(verdicts: Verdict[], title: string): PromSample[] {
  return verdicts.find((verdict) => verdict.source.startsWith(`dashboard "${title}"`))?.samples ?? [];
}

/** What the failure-only panels show of the seeded broken monitors. */
function seededFailures(verdicts: Verdict[]): { current: string[]; byReason: string[]; overlapSkips: number } {
  const panel = (title: string): PromSample[] => panelSamples(verdicts, title);
  return {
    current: panel('Current failures')
      .map((sample) => `${sample.metric.monitor}/${sample.metric.check} ${sample.metric.category}/${sample.metric.reason}`)
      .sort(),
    byReason: panel('Failures by reason, all monitors (time range)')
      .map((sample) => `${sample.metric.category}/${sample.metric.reason}`)
      .sort(),
    overlapSkips: panel('Skipped runs').filter((sample) => sample.metric.mailbox === HANG_MAILBOX && sample.metric.why === 'overlap').length,
  };
}

const SEEDED_CURRENT = ['broken-auth/imap auth/auth_failed', 'broken-hang/pop3 transport/timeout', 'broken-hang/roundtrip transport/timeout'];
const SEEDED_REASONS = ['auth/auth_failed', 'transport/timeout'];

/** What the panels show of the healthy mailboxes: panels without data, current failures, and each check's status. */
function healthyView(verdicts: Verdict[]): { missing: Verdict[]; current: PromSample[] | undefined; checks: string[] } {
  const failureOnly = (verdict: Verdict): boolean => FAILURE_ONLY_PANELS.has(/^dashboard "(.*)" \w+$/.exec(verdict.source)?.[1] ?? '');
  const checks = new Set(panelSamples(verdicts, 'Check status').map((sample) => `${sample.metric.mailbox}/${sample.metric.check}=${sample.value}`));
  return {
    missing: verdicts.filter((verdict) => !failureOnly(verdict) && !hasData(verdict)),
    current: verdicts.find((verdict) => verdict.source.startsWith('dashboard "Current failures"'))?.samples,
    checks: [...checks].sort(),
  };
}

before(async () => {
  const started = Date.now();
  bed = await startTestbed({
    tenants: [
      { domain: DEFAULT_DOMAIN, mailboxes: [{ address: `probe@${DEFAULT_DOMAIN}` }, { address: `shared@${DEFAULT_DOMAIN}` }, { address: RT_MAILBOX }] },
    ],
  });
  const hangPort = await startHangServer();
  // The seeded auth breakage: the app lost FullAccess on shared@.
  bed.model.setFullAccess(bed.tenantId, bed.otherMailbox, bed.clientId, false);

  const { file } = writeMonitors(bed, {
    monitors: [
      { name: 'healthy', mailbox: bed.mailbox, checks: ['imap', 'pop3', 'smtp'], schedule: EVERY_TWO_SECONDS },
      { name: 'healthy-roundtrip', mailbox: RT_MAILBOX, checks: ['roundtrip'], schedule: EVERY_THREE_SECONDS },
      { name: 'broken-auth', mailbox: bed.otherMailbox, checks: ['imap'], schedule: EVERY_TWO_SECONDS },
      {
        name: 'broken-hang',
        mailbox: HANG_MAILBOX,
        checks: ['pop3', 'roundtrip'],
        schedule: EVERY_SECOND,
        pop3: { port: hangPort },
        smtp: { port: hangPort },
        imap: { port: hangPort },
      },
    ],
    // smtp every 2 s is 30 sends a minute, the most a budget allows; the test is over long before a minute.
    defaults: { sendBudget: { perMinute: 30 }, roundtrip: { deadlineSeconds: 10, pollSeconds: 0.2 } },
  });
  // A client secret with a known expiry, so the credential-expiry panel and alerts have a series.
  const config = JSON.parse(await readFile(file, 'utf8')) as {
    tenants: { bed: { credential: Record<string, unknown> } };
    monitors: Array<Record<string, unknown>>;
  };
  config.tenants.bed.credential.expires = new Date(Date.now() + 90 * 86_400_000).toISOString();
  // The hanging monitor gives up after 2 s, so its every-second schedule finds the previous run still going.
  const hang = config.monitors.find((monitor) => monitor.name === 'broken-hang');
  assert.ok(hang, 'monitors.json lost the broken-hang monitor');
  Object.assign(hang, { timeoutSeconds: 2, stepTimeoutSeconds: 2, roundtrip: { deadlineSeconds: 1, pollSeconds: 0.2 } });
  await writeFile(file, JSON.stringify(config, null, 2));

  const [port] = (await pickPorts(1)) as [number];
  agent = await startAgentProcess(['--config', file], port);
  rulesDir = await mkdtemp(path.join(os.tmpdir(), 'mailprobe-rules-'));
  prometheus = await startPrometheus({ targets: [`127.0.0.1:${port}`], ruleFiles: await writeTestRuleFiles(rulesDir) });
  process.stderr.write(`# expressions-e2e: test bed, agent and Prometheus up in ${Date.now() - started} ms\n`);
});

after(async () => {
  await prometheus?.stop();
  for (const socket of hangSockets) socket.destroy();
  await agent?.stop();
  hangServer?.close();
  await bed?.close();
  if (rulesDir) await rm(rulesDir, { recursive: true, force: true });
});

describe('shipped PromQL against a real Prometheus scraping mailprobe run', () => {
  test('the condition-free form keeps every series and every join of an alert expression', () => {
    assert.equal(
      conditionFreeExpression('a{x!="y"} > 0 unless on (t) b == 1 or absent(up{job="m"})'),
      'a{x!="y"} > bool 0 and on (t) b == bool 1 and (up{job="m"})',
    );
    assert.equal(conditionFreeExpression('a >= bool 3 and b{s=">"} < 2'), 'a >= bool 3 and b{s=">"} < bool 2');
  });

  test('every dashboard, recording-rule and alert expression returns data', async (t) => {
    const started = Date.now();
    const expressions = [...dashboardExpressionsFor(DEFAULT_VARIABLE_VALUES.mailbox), ...ruleExpressionSet()];
    const verdicts = await settle(expressions, SETTLE_TIMEOUT_MS);
    assert.equal(verdicts.length, expressions.length, 'not every expression was evaluated');
    const bad = verdicts.filter((verdict) => !hasData(verdict));
    t.diagnostic(`${verdicts.length - bad.length}/${verdicts.length} expressions with data after ${Date.now() - started} ms`);
    assert.deepEqual(bad.map(describeVerdict), [], `expressions without data:\n${bad.map(describeVerdict).join('\n')}\n${await prometheus?.logTail()}`);
  });

  test('the shipped alert expressions themselves evaluate without error', async () => {
    const alerts = ruleDefinitions().filter((rule) => rule.kind === 'alert');
    const verdicts = await evaluate(alerts.map((rule) => ({ source: `alert ${rule.name}`, expr: rule.expr })));
    assert.deepEqual(verdicts.filter((verdict) => verdict.error !== undefined).map(describeVerdict), []);
  });

  test('the seeded broken monitors feed the failure-only panels', async () => {
    const expected = (seen: ReturnType<typeof seededFailures>): boolean =>
      isDeepStrictEqual(seen.current, SEEDED_CURRENT) && isDeepStrictEqual(seen.byReason, SEEDED_REASONS) && seen.overlapSkips > 0;
    const verdicts = await settle(dashboardExpressionsFor(DEFAULT_VARIABLE_VALUES.mailbox), SETTLE_TIMEOUT_MS, (all) => expected(seededFailures(all)));
    const seen = seededFailures(verdicts);
    assert.deepEqual(seen.current, SEEDED_CURRENT);
    assert.deepEqual(seen.byReason, SEEDED_REASONS);
    assert.ok(seen.overlapSkips > 0, `no overlap skips of the hanging monitor: ${JSON.stringify(panelSamples(verdicts, 'Skipped runs'))}`);
  });

  test('on the healthy mailboxes alone, every panel but the failure-only ones has data, and no failure shows', async () => {
    const healthyChecks = [`${bed.mailbox}/imap=1`, `${bed.mailbox}/pop3=1`, `${bed.mailbox}/smtp=1`, `${RT_MAILBOX}/roundtrip=1`];
    const healthy = (view: ReturnType<typeof healthyView>): boolean =>
      view.missing.length === 0 && view.current?.length === 0 && isDeepStrictEqual(view.checks, healthyChecks);
    const view = healthyView(await settle(dashboardExpressionsFor(HEALTHY_MAILBOXES), SETTLE_TIMEOUT_MS, (all) => healthy(healthyView(all))));
    assert.deepEqual(view.missing.map(describeVerdict), []);
    assert.ok(view.current, 'the dashboard has a "Current failures" panel');
    assert.deepEqual(view.current, [], 'a healthy mailbox shows a current failure');
    assert.deepEqual(view.checks, healthyChecks);
  });
});
