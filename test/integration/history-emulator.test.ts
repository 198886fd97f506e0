import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SlaReport } from '../../src/history/report.js';
import { DEMO_SCRIPT, startDemoEnvironment, type DemoEnvironment } from '../../src/sandbox/demo.js';
import { startAgentProcess, type AgentProcess } from '../support/agent-process.js';
import { runCli } from '../support/cli.js';
import { pickPorts } from '../support/testbed/ports.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

// The history end to end, as an operator meets it: the agent runs against the emulator with the demo's faults,
// is stopped for a while and started again, and `mailprobe report --format json` tells what happened.

interface Notification {
  status: string;
  monitor: string;
  check: string;
  reason: string | null;
}

interface StatusEntry {
  monitor: string;
  check: string;
  state: string;
  consecutiveFailures: number;
  last?: { reason?: string };
}

const event = (prefix: string) => {
  const found = DEMO_SCRIPT.find((candidate) => candidate.description.startsWith(prefix));
  if (!found) throw new Error(`demo event "${prefix}" missing`);
  return found;
};

let env: DemoEnvironment;
let receiver: WebhookReceiver<Notification>;
let received: Notification[] = [];
let agent: AgentProcess | undefined;

before(async () => {
  env = await startDemoEnvironment({ schedule: '*/2 * * * * *', checks: ['imap', 'smtp'], listen: '127.0.0.1:0' });
  receiver = await startWebhookReceiver<Notification>();
  received = receiver.received;
  const config = JSON.parse(readFileSync(env.config.file, 'utf8')) as Record<string, unknown>;
  config.alerting = { failureThreshold: 2, notifiers: [{ type: 'webhook', name: 'ops', url: receiver.url }] };
  config.history = { flushSeconds: 0.2 };
  writeFileSync(env.config.file, JSON.stringify(config, null, 2));
});

after(async () => {
  await agent?.stop();
  await receiver?.close();
  await env?.close();
});

async function statusOf(process: AgentProcess, monitor: string, check: string): Promise<StatusEntry | undefined> {
  const body = JSON.parse((await process.get('/api/status')).body) as { checks: StatusEntry[] };
  return body.checks.find((entry) => entry.monitor === monitor && entry.check === check);
}

async function start(): Promise<AgentProcess> {
  const [port] = await pickPorts(1);
  return startAgentProcess(['--config', env.config.file], port ?? 0);
}

describe('history through a restart, and the report', () => {
  test('history, streaks and alert state survive a restart; the report shows failures, incidents and the stop as UNKNOWN', async () => {
    const begin = Date.now();
    agent = await start();
    await agent.waitFor('contoso healthy first', async () => ((await statusOf(agent!, 'contoso-helpdesk', 'smtp'))?.state === 'ok' ? true : undefined));

    // Exchange refuses SMTP AUTH at once (535 5.7.139); the secret expiry shows when the cached token is renewed.
    await event('contoso: SMTP AUTH disabled').apply(env);
    await event('fabrikam: the client secret expires').apply(env);
    const firing = await agent.waitFor('the firing notification', async () =>
      received.find((n) => n.status === 'firing' && n.monitor === 'contoso-helpdesk' && n.check === 'smtp'),
    );
    assert.equal(firing.reason, 'smtp_auth_disabled_tenant');
    const before = await agent.waitFor('three failures in a row', async () => {
      const entry = await statusOf(agent!, 'contoso-helpdesk', 'smtp');
      return entry && entry.consecutiveFailures >= 3 ? entry : undefined;
    });

    assert.equal(await agent.stop(), 0);
    const stoppedAt = Date.now();
    await sleep(8000);
    agent = await start();
    // The first answer after the restart already knows the streak: it was restored from the store, not rebuilt.
    const restored = await statusOf(agent, 'contoso-helpdesk', 'smtp');
    assert.equal(restored?.state, 'failing');
    assert.ok(
      (restored?.consecutiveFailures ?? 0) >= before.consecutiveFailures,
      `streak ${restored?.consecutiveFailures} after restart, ${before.consecutiveFailures} before`,
    );
    assert.equal(restored?.last?.reason, 'smtp_auth_disabled_tenant');
    await agent.waitFor('the streak to continue', async () => {
      const entry = await statusOf(agent!, 'contoso-helpdesk', 'smtp');
      return entry && entry.consecutiveFailures > before.consecutiveFailures ? true : undefined;
    });

    await event('repair: contoso SMTP AUTH').apply(env);
    await event('repair: fabrikam').apply(env);
    await agent.waitFor(
      'the resolved notification',
      async () => received.find((n) => n.status === 'resolved' && n.monitor === 'contoso-helpdesk' && n.check === 'smtp'),
      60_000,
    );
    assert.equal(
      received.filter((n) => n.status === 'firing' && n.monitor === 'contoso-helpdesk' && n.check === 'smtp').length,
      1,
      'the restart did not fire the alert again',
    );
    const served = await agent.get(`/api/report?from=${encodeURIComponent(new Date(begin).toISOString())}&monitor=contoso-helpdesk`);
    assert.equal(served.status, 200, served.body);
    const live = JSON.parse(served.body) as SlaReport;
    assert.equal(live.report, 'mailprobe-sla');
    assert.deepEqual([...new Set(live.checks.map((entry) => entry.monitor))], ['contoso-helpdesk']);
    assert.ok(live.incidents.some((entry) => entry.reason === 'smtp_auth_disabled_tenant'));
    const bad = await agent.get('/api/report?period=2026-13');
    assert.equal(bad.status, 400);
    assert.match(bad.body, /not a month/);
    assert.equal(await agent.stop(), 0);
    agent = undefined;

    const run = await runCli([
      'report',
      '--config',
      env.config.file,
      '--format',
      'json',
      '--from',
      new Date(begin).toISOString(),
      '--to',
      new Date().toISOString(),
    ]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as SlaReport;
    const check = (monitor: string, kind: string) => {
      const found = report.checks.find((entry) => entry.monitor === monitor && entry.check === kind);
      assert.ok(found, `${monitor} ${kind} in the report`);
      return found;
    };
    const contoso = check('contoso-helpdesk', 'smtp');
    assert.ok(contoso.availability !== null && contoso.availability < 1, `contoso-helpdesk smtp ${contoso.availability}`);
    assert.ok(contoso.failSeconds > 0);
    assert.equal(contoso.sloMet, false);

    const incident = report.incidents.find((entry) => entry.monitor === 'contoso-helpdesk' && entry.check === 'smtp');
    assert.ok(incident, JSON.stringify(report.incidents));
    assert.equal(incident.reason, 'smtp_auth_disabled_tenant');
    assert.equal(incident.category, 'auth');
    assert.match(incident.serverText ?? '', /5\.7\.139/);
    assert.ok(incident.endedAt !== null, 'the incident ended with the repair');
    assert.ok(Date.parse(incident.startedAt) < stoppedAt && Date.parse(incident.endedAt ?? '') > stoppedAt + 8000, 'one incident across the restart');
    assert.match(incident.fix, /SmtpClientAuthentication|Set-TransportConfig|SMTP/i);

    // While the agent was stopped nobody looked: UNKNOWN, for a healthy monitor too, never up.
    const gap = report.agentDown.find((entry) => Date.parse(entry.from) >= stoppedAt - 2000);
    assert.ok(gap && gap.seconds >= 7, JSON.stringify(report.agentDown));
    const healthy = check('northwind-orders', 'imap');
    assert.ok(healthy.unknownSeconds >= 4 && healthy.agentDownSeconds >= 4, `unknown ${healthy.unknownSeconds} s, agent down ${healthy.agentDownSeconds} s`);
    assert.ok(healthy.okSeconds + healthy.failSeconds + healthy.unknownSeconds <= (Date.now() - begin) / 1000 + 1);

    const text = await runCli(['report', '--config', env.config.file, '--from', new Date(begin).toISOString()]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /smtp_auth_disabled_tenant at auth/);
    assert.match(text.stdout, /Agent not running \(counted as UNKNOWN\)/);
  });
});
