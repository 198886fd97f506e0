import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pickPorts } from '../support/testbed/ports.js';
import { startAgentProcess, sampleValue, type AgentProcess } from '../support/agent-process.js';
import { writeMonitors } from '../support/monitors.js';
import { promtoolPath } from '../support/promtool.js';
import { startTestbed, type Testbed } from '../support/testbed/index.js';

// `mailprobe run` as a real process against real Dovecot and Postfix: metrics on schedule, a breakage seen
// without a restart, reloads, and a graceful stop with a check in flight.

let bed: Testbed;
let agent: AgentProcess | undefined;
let hangServer: Server;
const hangSockets = new Set<Socket>();
let hangPort = 0;

const EVERY_TWO_SECONDS = '*/2 * * * * *';

function labels(monitor: string, check: string): Record<string, string> {
  return { monitor, check };
}

before(async () => {
  bed = await startTestbed();
  // Tokens expire 5 s after issue in msal's eyes (it renews 300 s early), so a revoked secret shows quickly.
  bed.model.tokenLifetimeSeconds = 305;
  hangServer = createServer((socket) => {
    hangSockets.add(socket);
    socket.on('close', () => hangSockets.delete(socket));
  });
  await new Promise<void>((resolve) => hangServer.listen(0, '127.0.0.1', resolve));
  const address = hangServer.address();
  hangPort = typeof address === 'object' && address ? address.port : 0;
});

after(async () => {
  await agent?.stop();
  for (const socket of hangSockets) socket.destroy();
  hangServer?.close();
  await bed?.close();
});

describe('mailprobe run against the real test bed', () => {
  test('serves metrics for every monitor on schedule, and sees a breakage without a restart', async () => {
    const { file } = writeMonitors(bed, {
      monitors: [
        { name: 'probe-a', mailbox: bed.mailbox, checks: ['imap', 'smtp'], schedule: EVERY_TWO_SECONDS },
        { name: 'probe-b', mailbox: bed.otherMailbox, checks: ['imap', 'pop3'], schedule: EVERY_TWO_SECONDS },
      ],
    });
    const [port] = await pickPorts(1);
    agent = await startAgentProcess(['--config', file], port ?? 0);

    for (const [monitor, check] of [
      ['probe-a', 'imap'],
      ['probe-a', 'smtp'],
      ['probe-b', 'imap'],
      ['probe-b', 'pop3'],
    ] as const) {
      await agent.waitFor(`${monitor}/${check} healthy`, async () =>
        sampleValue(await agent!.metrics(), 'mailprobe_check_success', labels(monitor, check)) === 1 ? true : undefined,
      );
    }
    const ready = await agent.get('/readyz');
    assert.equal(ready.status, 200);

    // Runs keep coming on schedule: the run counter grows.
    const first = sampleValue(await agent.metrics(), 'mailprobe_checks_total', { ...labels('probe-a', 'imap'), result: 'success' }) ?? 0;
    await agent.waitFor('more scheduled runs', async () => {
      const now = sampleValue(await agent!.metrics(), 'mailprobe_checks_total', { ...labels('probe-a', 'imap'), result: 'success' }) ?? 0;
      return now >= first + 2 ? true : undefined;
    });

    // FullAccess on probe-b's mailbox removed: probe-b fails at auth, probe-a stays healthy.
    bed.model.setFullAccess(bed.tenantId, bed.otherMailbox, bed.clientId, false);
    await agent.waitFor('probe-b imap failing with auth_failed', async () =>
      sampleValue(await agent!.metrics(), 'mailprobe_check_failure_reason', { ...labels('probe-b', 'imap'), reason: 'auth_failed', stage: 'auth' }) === 1
        ? true
        : undefined,
    );
    const text = await agent.metrics();
    assert.equal(sampleValue(text, 'mailprobe_check_success', labels('probe-b', 'imap')), 0);
    assert.equal(sampleValue(text, 'mailprobe_check_success', labels('probe-a', 'imap')), 1);

    // The secret revoked in the token service: after the cached token expires, every check fails on the token.
    bed.model.revokeSecret(bed.tenantId, bed.clientId);
    await agent.waitFor('probe-a imap failing with token_invalid_client_secret', async () =>
      sampleValue(await agent!.metrics(), 'mailprobe_check_failure_reason', {
        ...labels('probe-a', 'imap'),
        reason: 'token_invalid_client_secret',
        stage: 'token',
      }) === 1
        ? true
        : undefined,
    );
    assert.ok((sampleValue(await agent.metrics(), 'mailprobe_token_requests_total', { result: 'failure' }) ?? 0) >= 1);

    const status = JSON.parse((await agent.get('/api/status')).body) as {
      checks: Array<{ monitor: string; check: string; state: string; last?: { reason?: string; fixes?: string[] } }>;
    };
    const broken = status.checks.find((entry) => entry.monitor === 'probe-a' && entry.check === 'imap');
    assert.equal(broken?.state, 'failing');
    assert.equal(broken?.last?.reason, 'token_invalid_client_secret');
    assert.ok(broken?.last?.fixes?.some((fix) => /secret/i.test(fix)));

    bed.model.addSecret(bed.tenantId, bed.clientId, { value: bed.clientSecret });
    bed.model.setFullAccess(bed.tenantId, bed.otherMailbox, bed.clientId, true);
    await agent.waitFor('probe-b healthy again after repair', async () =>
      sampleValue(await agent!.metrics(), 'mailprobe_check_success', labels('probe-b', 'imap')) === 1 ? true : undefined,
    );
  });

  test('real /metrics output passes promtool check metrics', async () => {
    assert.ok(agent);
    const text = await agent.metrics();
    const result = spawnSync(promtoolPath(), ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    assert.equal(`${result.stdout}${result.stderr}`.trim(), '');
    for (const name of [
      'mailprobe_check_duration_seconds_bucket',
      'mailprobe_step_duration_seconds_bucket',
      'mailprobe_monitor_info',
      'mailprobe_check_last_duration_seconds',
      'mailprobe_token_expiry_timestamp_seconds',
      'mailprobe_token_role',
      'mailprobe_build_info',
      'process_cpu_seconds_total',
    ]) {
      assert.ok(text.includes(`${name}{`) || text.includes(`${name} `), `missing ${name}`);
    }
  });

  test('an invalid file on reload is logged and the running config stays; a valid one applies', async () => {
    assert.ok(agent);
    const file = (JSON.parse((await agent.get('/api/status')).body) as { config: { file: string } }).config.file;
    const valid = readFileSync(file, 'utf8');
    writeFileSync(file, valid.replace('"monitors": [', '"monitors": [ { "name": "broken" } ,'));
    agent.signal('SIGHUP');
    await agent.waitFor('reload failure metric', async () =>
      sampleValue(await agent!.metrics(), 'mailprobe_config_last_reload_success', {}) === 0 ? true : undefined,
    );
    assert.match(agent.output(), /configuration reload failed; the running configuration stays in force/);
    const runs = sampleValue(await agent.metrics(), 'mailprobe_checks_total', { ...labels('probe-a', 'imap'), result: 'success' }) ?? 0;
    await agent.waitFor('checks still running on the old config', async () =>
      (sampleValue(await agent!.metrics(), 'mailprobe_checks_total', { ...labels('probe-a', 'imap'), result: 'success' }) ?? 0) > runs ? true : undefined,
    );

    const config = JSON.parse(valid) as { monitors: Array<{ name: string; checks: string[] }> };
    config.monitors = config.monitors.filter((monitor) => monitor.name !== 'probe-b');
    const extra = { ...config.monitors[0]!, name: 'probe-c', checks: ['imap'] };
    config.monitors.push(extra);
    writeFileSync(file, JSON.stringify(config, null, 2));
    agent.signal('SIGHUP');
    await agent.waitFor('probe-c scheduled and probe-b gone', async () => {
      const text = await agent!.metrics();
      const added = sampleValue(text, 'mailprobe_check_success', labels('probe-c', 'imap')) === 1;
      const removed = !text.includes('monitor="probe-b"');
      return added && removed && sampleValue(text, 'mailprobe_config_last_reload_success', {}) === 1 ? true : undefined;
    });
  });

  test('no secret or token reaches the log, the status API or the metrics', async () => {
    assert.ok(agent);
    const everything = [agent.output(), (await agent.get('/api/status')).body, await agent.metrics()].join('\n');
    assert.ok(!everything.includes(bed.clientSecret), 'client secret leaked');
    assert.doesNotMatch(everything, /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./, 'a JWT leaked');
    assert.doesNotMatch(everything, /dXNlcj[0-3][A-Za-z0-9+/]{20,}/, 'an XOAUTH2 string leaked');
  });

  test('SIGTERM stops scheduling, waits for a check in flight up to the grace period, and exits 0', async () => {
    await agent?.stop();
    const { file } = writeMonitors(bed, {
      monitors: [{ name: 'stuck', checks: ['imap'], imap: { port: hangPort }, schedule: '0 0 1 1 *' }],
      defaults: { timeoutSeconds: 60, stepTimeoutSeconds: 60 },
      agent: { shutdownGraceSeconds: 1 },
    });
    const [port] = await pickPorts(1);
    agent = await startAgentProcess(['--config', file], port ?? 0);
    await agent.waitFor('the check to be in flight', async () => (hangSockets.size > 0 ? true : undefined));
    agent.signal('SIGTERM');
    const code = await agent.exited();
    assert.equal(code, 0);
    // The check would hang for its 60 s step timeout; the agent says the 1 s grace ended the wait instead.
    assert.match(agent.output(), /stopped with checks still in flight/);
    agent = undefined;
  });
});
