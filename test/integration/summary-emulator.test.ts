import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import { monthRange } from '../../src/history/calendar.js';
import { startDemoEnvironment, type DemoEnvironment } from '../../src/sandbox/demo.js';
import { latestDue } from '../../src/summary/schedule.js';
import { failed, passed, startReceiver } from '../alerting/support.js';
import { playHistory } from '../support/played-history.js';
import { sampleValue, startAgentProcess, type AgentProcess } from '../support/agent-process.js';
import { pickPorts } from '../support/testbed/ports.js';

// The monthly summary through the real agent against the emulator: an agent that was down when the summary was
// due sends it when it starts, from the history it kept, once; a restart does not send it again.

const HOUR = 3_600_000;

interface SummaryBody {
  kind: string;
  id: string;
  period: string;
  availability: number | null;
  sloMissed: number;
  incidents: Array<{ monitor: string; reason: string; fix: string }>;
  command: string;
}

let env: DemoEnvironment;
let agent: AgentProcess | undefined;

before(async () => {
  env = await startDemoEnvironment({ schedule: '*/2 * * * * *', checks: ['imap'], listen: '127.0.0.1:0' });
});

after(async () => {
  await agent?.stop();
  await env?.close();
});

/** The month the summary due now reports on, with one 6-hour outage (missing any SLO target above 99.2 %) of the first monitor in it. */
async function seedHistory(stateDir: string, monitors: ReadonlyArray<{ name: string; tenant: string; mailbox: string }>, period: string): Promise<void> {
  const { from, to } = monthRange(period, 'UTC');
  const store = await openSqliteStore(join(stateDir, 'history.sqlite'), { now: from });
  const outage = { from: from + 4 * 24 * HOUR + 9 * HOUR, to: from + 4 * 24 * HOUR + 15 * HOUR };
  await playHistory(store, {
    from,
    to,
    stepMs: HOUR,
    intervalSeconds: 3600,
    results: (t) =>
      monitors.map((monitor, index) => {
        const down = index === 0 && t >= outage.from && t < outage.to;
        const result = down
          ? failed({ monitor: monitor.name, at: t, reason: 'token_secret_expired', stage: 'token' })
          : passed({ monitor: monitor.name, at: t });
        return { ...result, tenant: monitor.tenant, mailbox: monitor.mailbox };
      }),
  });
  await store.close();
}

describe('monthly summary through the agent', () => {
  test('down at the scheduled time: sent at start-up to webhook and Teams, once, not to Alertmanager', async (t) => {
    const hook = await startReceiver(t, () => ({ status: 204 }));
    const teams = await startReceiver(t, () => ({ status: 200 }));
    const alertmanager = await startReceiver(t, () => ({ status: 200 }));
    const config = JSON.parse(readFileSync(env.config.file, 'utf8')) as {
      agent: { stateDir: string };
      monitors: Array<{ name: string; tenant: string; mailbox: string }>;
      [key: string]: unknown;
    };
    // No alerts: the receivers hear only the summary.
    config.alerting = {
      failureThreshold: 1000,
      notifiers: [
        { type: 'webhook', name: 'hook', url: `${hook.url}/hook` },
        { type: 'teams', name: 'ops-teams', url: `${teams.url}/teams` },
        { type: 'alertmanager', name: 'am', url: alertmanager.url },
      ],
    };
    config.history = { flushSeconds: 0.2 };
    config.sla = { monthlySummary: { day: 1, at: '08:00' } };
    writeFileSync(env.config.file, JSON.stringify(config, null, 2));

    const due = latestDue(Date.now(), { day: 1, at: '08:00', timeZone: 'UTC' });
    const stateDir = config.agent.stateDir;
    mkdirSync(stateDir, { recursive: true });
    await seedHistory(stateDir, config.monitors, due.period);
    // The state an agent leaves that ran until a day before the summary was due.
    writeFileSync(join(stateDir, 'summary-state.json'), JSON.stringify({ version: 1, since: due.dueAt - 24 * HOUR, sent: {} }));

    const [port, port2] = await pickPorts(2);
    agent = await startAgentProcess(['--config', env.config.file], port ?? 0);
    await hook.waitFor(1, 30_000);
    await teams.waitFor(1, 30_000);
    const body = hook.received[0]?.body as SummaryBody;
    assert.equal(body.kind, 'monthly_summary');
    assert.equal(body.period, due.period);
    assert.equal(body.id, `mailprobe-summary-${due.period}`);
    assert.ok(body.availability !== null && body.availability < 1, `availability ${String(body.availability)}`);
    assert.equal(body.sloMissed, 1);
    assert.equal(body.incidents[0]?.monitor, config.monitors[0]?.name);
    assert.equal(body.incidents[0]?.reason, 'token_secret_expired');
    assert.ok((body.incidents[0]?.fix ?? '').length > 0);
    assert.equal(body.command, `mailprobe report --period ${due.period}`);
    assert.ok(JSON.stringify(teams.received[0]?.body).includes('token_secret_expired'));
    await agent.waitFor('the summary counted as a delivered notification', async () =>
      sampleValue(await agent!.metrics(), 'mailprobe_notifications_total', { notifier: 'hook', type: 'webhook', result: 'success' }) === 1 ? true : undefined,
    );
    assert.match(agent.output(), /monthly summary sent late/);
    await agent.stop();
    agent = undefined;

    const state = JSON.parse(readFileSync(join(stateDir, 'summary-state.json'), 'utf8')) as { sent: Record<string, Record<string, string>> };
    assert.deepEqual(Object.keys(state.sent[due.period] ?? {}).sort(), ['hook', 'ops-teams']);

    // Restarted: checks run, the summary stays sent.
    const restartedAt = Date.now();
    agent = await startAgentProcess(['--config', env.config.file], port2 ?? 0);
    await agent.waitFor('a check result after the restart', async () => {
      const { checks } = JSON.parse((await agent!.get('/api/status')).body) as { checks: Array<{ last?: { at: string } }> };
      return checks.some((check) => check.last !== undefined && Date.parse(check.last.at) >= restartedAt) || undefined;
    });
    await sleep(2000);
    assert.equal(hook.received.length, 1);
    assert.equal(teams.received.length, 1);
    assert.equal(alertmanager.received.length, 0, 'Alertmanager takes alerts, not reports');
  });
});
