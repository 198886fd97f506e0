import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import type { LoadedConfig } from '../../src/config/types.js';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import type { HistoryStore } from '../../src/history/types.js';
import { renderReport } from '../../src/history/report-format.js';
import { digestOf } from '../../src/summary/digest.js';
import { storeBrief, storeReport, workerBrief, workerReportJson } from '../../src/history/report-runner.js';
import { MonthlySummary, summaryScope } from '../../src/summary/service.js';
import { FakeClock, MemoryLogger, startReceiver, type Receiver, type Reply } from '../alerting/support.js';
import { DEC, HOUR, MIN, NOV, novemberHistory } from './support.js';

const WEBHOOK_TOKEN = 'webhook-header-secret-8c1f';
const TEAMS_SIG = 'teams-url-sig-77d0';

interface Bed {
  dir: string;
  webhook: Receiver;
  teams: Receiver;
  slack: Receiver;
  alertmanager: Receiver;
}

const ok: Reply = { status: 200 };

/** Requests the three report-taking receivers got. */
const sent = (b: Bed): number => b.webhook.received.length + b.teams.received.length + b.slack.received.length;

async function bed(t: TestContext, replies: { webhook?: (n: number) => Reply } = {}): Promise<Bed> {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-summary-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    webhook: await startReceiver(t, replies.webhook ?? (() => ok)),
    teams: await startReceiver(t, () => ok),
    slack: await startReceiver(t, () => ok),
    alertmanager: await startReceiver(t, () => ok),
  };
}

function config(b: Bed, summary: object = {}, extra: object = {}): LoadedConfig {
  const tenant = {
    tenantId: 'contoso.onmicrosoft.com',
    clientId: '10e1f456-3921-1234-1234-105af0774c61',
    credential: { type: 'secret', secret: { env: 'S' } },
  };
  return parseConfig(
    JSON.stringify({
      agent: { stateDir: b.dir },
      tenants: { contoso: tenant, fabrikam: { ...tenant, tenantId: 'fabrikam.onmicrosoft.com' } },
      monitors: [
        { name: 'probe-a', tenant: 'contoso', mailbox: 'probe@contoso.com', checks: ['imap'] },
        { name: 'probe-b', tenant: 'fabrikam', mailbox: 'probe@fabrikam.com', checks: ['smtp'] },
      ],
      alerting: {
        maxAttempts: 1,
        notifiers: [
          { type: 'webhook', name: 'hook', url: b.webhook.url, headers: { Authorization: { env: 'HOOK_AUTH' } } },
          { type: 'teams', name: 'ops-teams', url: `${b.teams.url}/workflows?sig=${TEAMS_SIG}` },
          { type: 'slack', name: 'ops-slack', url: b.slack.url },
          // Limited to one monitor (a customer's channel): not in the default, it would see everyone's figures.
          { type: 'slack', name: 'contoso-only', url: `${b.slack.url}/contoso`, monitors: ['probe-a'] },
          { type: 'alertmanager', name: 'am', url: b.alertmanager.url },
        ],
      },
      sla: { target: 99.9, monthlySummary: summary },
      ...extra,
    }),
    join(b.dir, 'monitors.json'),
  );
}

describe('monthly summary', () => {
  const storeDir = mkdtempSync(join(tmpdir(), 'mailprobe-summary-store-'));
  let store: HistoryStore;
  before(async () => {
    store = await openSqliteStore(join(storeDir, 'history.sqlite'), { now: NOV });
    await novemberHistory(store);
  });
  after(async () => {
    await store.close();
    rmSync(storeDir, { recursive: true, force: true });
  });

  const summaryFor = (b: Bed, clock: FakeClock, logger = new MemoryLogger(), backoff = { initialMs: MIN, maxMs: 2 * MIN }) =>
    new MonthlySummary({
      report: storeBrief(store),
      clock,
      logger,
      statePath: join(b.dir, 'summary-state.json'),
      env: { HOOK_AUTH: `Bearer ${WEBHOOK_TOKEN}` },
      backoff,
      retry: { initialDelayMs: 1, maxDelayMs: 5 },
    });
  const single = (loaded: LoadedConfig) => summaryScope({ full: loaded, config: loaded, shard: { index: 0, total: 1 } });

  test('at 08:00 on the 1st it sends November once through webhook, Teams and Slack, nothing to Alertmanager', async (t) => {
    const b = await bed(t);
    const clock = new FakeClock();
    clock.time = DEC - HOUR;
    const first = summaryFor(b, clock);
    first.configure(single(config(b)));
    await first.poll();
    await first.flush();
    assert.equal(b.webhook.received.length, 0, 'nothing before the scheduled time');

    clock.time = DEC + 8 * HOUR + 30_000;
    await first.poll();
    await first.flush();
    const [hook] = b.webhook.received;
    assert.equal(b.webhook.received.length, 1);
    assert.equal(b.teams.received.length, 1);
    assert.equal(b.slack.received.length, 1);
    assert.equal(b.slack.received[0]?.path, '/', 'not the notifier limited to some monitors');
    assert.equal(b.alertmanager.received.length, 0, 'Alertmanager takes alerts, not reports');

    const body = hook?.body as Record<string, unknown> & { incidents: Array<Record<string, unknown>>; worst: Array<Record<string, unknown>> };
    assert.equal(hook?.headers.authorization, `Bearer ${WEBHOOK_TOKEN}`, 'the configured header is sent');
    assert.equal(body.kind, 'monthly_summary');
    assert.equal(body.id, 'mailprobe-summary-2030-11');
    assert.equal(body.period, '2030-11');
    assert.equal(body.scheduledFor, new Date(DEC + 8 * HOUR).toISOString());
    assert.equal(body.checks, 2);
    assert.equal(body.sloMissed, 2, 'probe-a lost 2 h and probe-b 1 h: both under 99.9 %');
    assert.equal(body.sloMet, 0);
    assert.ok(typeof body.availability === 'number' && body.availability < 1 && body.availability > 0.99, `availability ${String(body.availability)}`);
    assert.equal(body.outages, 2);
    assert.equal(body.agentDownSeconds, 6 * 3600, 'the 6 h stop on the 15th');
    assert.equal(body.agentDownPeriods, 1);
    assert.ok(typeof body.coverage === 'number' && body.coverage < 1);
    assert.deepEqual(
      body.worst.map((check) => [check.monitor, check.check, check.sloMet]),
      [
        ['probe-a', 'imap', false],
        ['probe-b', 'smtp', false],
      ],
    );
    const [longest, second] = body.incidents;
    assert.equal(longest?.reason, 'token_secret_expired');
    assert.equal(longest?.durationSeconds, 7200);
    assert.match(String(longest?.fix), /secret/i);
    assert.equal(second?.reason, 'connect_refused');
    assert.equal(body.command, 'mailprobe report --period 2030-11');

    const card = JSON.stringify(b.teams.received[0]?.body);
    for (const words of [
      'Mailbox availability 2030-11',
      'token_secret_expired',
      'Fix: ',
      'Worst checks',
      'mailprobe report --period 2030-11',
      'Agent not running',
      '6 h in 1 stretch',
    ])
      assert.ok(card.includes(words), `Teams card says "${words}"`);
    const slack = b.slack.received[0]?.body as { text: string; blocks: Array<{ type: string }> };
    assert.match(slack.text, /^Mailbox availability 2030-11: 99\.\d{3} %; SLO missed 2, 2 outages$/);
    assert.deepEqual(
      slack.blocks.map((block) => block.type),
      ['header', 'section', 'section', 'section', 'context'],
    );
    assert.ok(JSON.stringify(slack).includes('_Fix:_ '));

    const everything =
      JSON.stringify([...b.webhook.received, ...b.teams.received, ...b.slack.received].map((request) => request.body)) +
      readFileSync(join(b.dir, 'summary-state.json'), 'utf8');
    for (const secret of [WEBHOOK_TOKEN, TEAMS_SIG]) assert.ok(!everything.includes(secret), `${secret} never reaches a body or the state file`);
    const state = JSON.parse(readFileSync(join(b.dir, 'summary-state.json'), 'utf8')) as { sent: Record<string, Record<string, string>> };
    assert.deepEqual(Object.keys(state.sent['2030-11'] ?? {}).sort(), ['hook', 'ops-slack', 'ops-teams']);
    await first.close();

    // A restart (or a crash after the state was written) does not send November again.
    clock.time += HOUR;
    const second_ = summaryFor(b, clock);
    second_.configure(single(config(b)));
    await second_.poll();
    await second_.flush();
    await second_.close();
    assert.equal(sent(b), 3);
  });

  test('down at the scheduled time: it goes out at start-up, late, and December waits for 1 January', async (t) => {
    const b = await bed(t);
    const clock = new FakeClock();
    clock.time = NOV + 20 * 24 * HOUR;
    const before_ = summaryFor(b, clock);
    before_.configure(single(config(b)));
    await before_.poll();
    await before_.flush();
    await before_.close();
    assert.ok(existsSync(join(b.dir, 'summary-state.json')), 'the state file is written on the first look');

    clock.time = DEC + 2 * 24 * HOUR + 10 * HOUR;
    const logger = new MemoryLogger();
    const restarted = summaryFor(b, clock, logger);
    restarted.configure(single(config(b, { notifiers: ['ops-teams'] })));
    await restarted.poll();
    await restarted.flush();
    assert.equal(b.teams.received.length, 1);
    assert.equal(b.webhook.received.length + b.slack.received.length, 0, 'only the notifiers named');
    assert.ok(logger.messages().includes('monthly summary sent late: it was due while the agent was not running'));

    clock.time = DEC + 30 * 24 * HOUR;
    await restarted.poll();
    await restarted.flush();
    await restarted.close();
    assert.equal(b.teams.received.length, 1);
  });

  test('a new install after the scheduled time does not send last month’s report', async (t) => {
    const b = await bed(t);
    const clock = new FakeClock();
    clock.time = DEC + 3 * HOUR + 9 * HOUR;
    const summary = summaryFor(b, clock);
    summary.configure(single(config(b)));
    await summary.poll();
    await summary.flush();
    await summary.close();
    assert.equal(sent(b), 0);
  });

  test('the report built in a worker thread on its own SQLite connection equals the one built on the store', async () => {
    const job = { sla: undefined, configured: [], query: { from: NOV, to: DEC, now: DEC + HOUR, label: '2030-11' } };
    const [inWorker, onStore, brief] = await Promise.all([
      workerBrief({ backend: 'sqlite', file: join(storeDir, 'history.sqlite') })(job, 1),
      storeReport(store)(job),
      storeBrief(store)(job, 1),
    ]);
    assert.deepEqual(inWorker, brief);
    assert.equal(inWorker.summary.outages, 2);
    assert.equal(inWorker.outages.count, 2);
    assert.equal(inWorker.outages.top.length, 1, 'only the top outages cross back');
    const digest = digestOf(inWorker, { scheduledFor: DEC });
    assert.deepEqual([digest.outages, digest.incidents.length, digest.incidentsLeftOut], [2, 1, 1], 'the summary counts what it leaves out');
    assert.equal(
      inWorker.outages.top[0]?.durationSeconds,
      Math.max(...onStore.incidents.filter((incident) => incident.outage).map((incident) => incident.durationSeconds)),
    );
    assert.equal(
      (await workerReportJson({ backend: 'sqlite', file: join(storeDir, 'history.sqlite') })(job)).toString('utf8'),
      renderReport(onStore, 'json'),
      'the JSON text /api/report serves',
    );
    // A name beyond ASCII takes the UTF-8 encoder, not the byte-for-byte copy of an all-ASCII text.
    const named = { ...job, configured: [{ monitor: 'Zürich – 東京', tenant: 'contoso', check: 'imap' as const }] };
    const namedJson = (await workerReportJson({ backend: 'sqlite', file: join(storeDir, 'history.sqlite') })(named)).toString('utf8');
    assert.equal(namedJson, renderReport(await storeReport(store)(named), 'json'));
    assert.match(namedJson, /"monitor": "Zürich – 東京"/);
    writeFileSync(join(storeDir, 'not-a-database'), 'plain text, not SQLite\n'.repeat(200));
    await assert.rejects(
      workerBrief({ backend: 'sqlite', file: join(storeDir, 'not-a-database') })(job, 1),
      /not a readable history database \(SQLITE_NOTADB\)/,
    );
  });

  test('a corrupt state file is moved aside and the summary now due is not sent (never twice)', async (t) => {
    const b = await bed(t);
    const statePath = join(b.dir, 'summary-state.json');
    writeFileSync(statePath, '{"version": 1, "sent": ');
    const clock = new FakeClock();
    clock.time = DEC + 9 * HOUR;
    const logger = new MemoryLogger();
    const summary = summaryFor(b, clock, logger);
    summary.configure(single(config(b)));
    await summary.poll();
    await summary.flush();
    await summary.close();
    assert.equal(sent(b), 0);
    assert.ok(existsSync(`${statePath}.corrupt-${DEC + 9 * HOUR}`), 'kept for a look');
    const error = logger.entries.find((entry) => entry.message.startsWith('monthly summary state file is corrupt'));
    assert.equal(error?.level, 'error');
    assert.equal((JSON.parse(readFileSync(statePath, 'utf8')) as { since: number }).since, DEC + 9 * HOUR, 'a fresh file starts now');
  });

  test('a failed delivery is retried with backoff; the notifiers that got it are not asked again', async (t) => {
    const b = await bed(t, { webhook: (n) => (n < 2 ? { status: 503 } : ok) });
    const clock = new FakeClock();
    clock.time = DEC - HOUR;
    const logger = new MemoryLogger();
    const summary = summaryFor(b, clock, logger);
    summary.configure(single(config(b)));
    await summary.poll();
    const round = async (at: number): Promise<void> => {
      clock.time = at;
      await summary.poll();
      await summary.flush();
    };
    const due = DEC + 8 * HOUR;
    await round(due);
    assert.equal(b.webhook.received.length, 1);
    assert.equal(b.teams.received.length, 1);
    await round(due + 30_000);
    assert.equal(b.webhook.received.length, 1, 'waits out the first backoff (1 min)');
    await round(due + MIN + 1000);
    assert.equal(b.webhook.received.length, 2, 'second try after 1 min, fails again');
    await round(due + 2 * MIN + 2000);
    assert.equal(b.webhook.received.length, 2, 'the backoff doubled to 2 min');
    await round(due + 3 * MIN + 2000);
    assert.equal(b.webhook.received.length, 3);
    await round(due + 10 * MIN);
    assert.equal(b.webhook.received.length, 3, 'delivered: not again');
    assert.equal(b.teams.received.length, 1);
    assert.equal(b.slack.received.length, 1);
    assert.equal(logger.messages().filter((message) => message === 'monthly summary not delivered; retrying later').length, 2);
    await summary.close();
  });

  test('tenant filter: only fabrikam’s checks, and the command says --tenant', async (t) => {
    const b = await bed(t);
    const clock = new FakeClock();
    clock.time = DEC - HOUR;
    const summary = summaryFor(b, clock);
    summary.configure(single(config(b, { tenant: 'fabrikam', notifiers: ['hook'], day: 2, at: '06:30' })));
    await summary.poll();
    clock.time = DEC + 24 * HOUR + 6 * HOUR + 30 * MIN;
    await summary.poll();
    await summary.flush();
    await summary.close();
    const body = b.webhook.received[0]?.body as { id: string; tenant: string; checks: number; worst: Array<{ monitor: string }>; command: string };
    assert.equal(body.id, 'mailprobe-summary-2030-11-fabrikam');
    assert.equal(body.tenant, 'fabrikam');
    assert.equal(body.checks, 1);
    assert.deepEqual(
      body.worst.map((check) => check.monitor),
      ['probe-b'],
    );
    assert.equal(body.command, 'mailprobe report --period 2030-11 --tenant fabrikam');
  });

  test('a reload that turns it off gives up the state file, and one that turns it on again claims it', async (t) => {
    const b = await bed(t);
    const clock = new FakeClock();
    clock.time = DEC - HOUR;
    const summary = summaryFor(b, clock);
    const owner = join(b.dir, 'summary-state.json.owner');
    summary.configure(single(config(b)));
    await summary.poll();
    await summary.flush();
    assert.ok(existsSync(owner), 'claimed on the first look');
    summary.configure(single(config(b, { enabled: false })));
    assert.equal(existsSync(owner), false, 'released when switched off');
    clock.time = DEC + 9 * HOUR;
    await summary.poll();
    await summary.flush();
    assert.equal(sent(b), 0, 'off sends nothing');
    summary.configure(single(config(b)));
    await summary.poll();
    await summary.flush();
    await summary.close();
    assert.equal(sent(b), 3, 'on again: the summary due goes out (the file kept its start)');
  });

  test('only shard 0 sends; a state file owned by another live agent stops this one', async (t) => {
    const b = await bed(t);
    const clock = new FakeClock();
    clock.time = DEC - HOUR;
    const loaded = config(b);
    const shard1 = summaryFor(b, clock);
    shard1.configure(summaryScope({ full: loaded, config: loaded, shard: { index: 1, total: 2 } }));
    await shard1.poll();
    clock.time = DEC + 9 * HOUR;
    await shard1.poll();
    await shard1.flush();
    await shard1.close();
    assert.equal(existsSync(join(b.dir, 'summary-state.json')), false, 'shard 1 keeps no summary state');

    const owner = join(b.dir, 'summary-state.json.owner');
    writeFileSync(owner, 'other-host pid 42\n');
    utimesSync(owner, new Date(clock.time), new Date(clock.time));
    const logger = new MemoryLogger();
    const shard0 = summaryFor(b, clock, logger);
    const scope = summaryScope({ full: loaded, config: loaded, shard: { index: 0, total: 2 } });
    assert.match(scope.scopeNote ?? '', /^shard 0 of 2 only/);
    shard0.configure(scope);
    await shard0.poll();
    await shard0.flush();
    await shard0.close();
    assert.equal(sent(b), 0);
    assert.ok(logger.messages().includes('monthly summary state file belongs to another agent; this one does not send the summary'));
  });
});
