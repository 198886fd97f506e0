import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startAgentProcess, sampleValue, type AgentProcess } from '../support/agent-process.js';
import { startEmulatorBed, type EmulatorBed } from '../support/emulator-bed.js';
import { writeMonitors } from '../support/monitors.js';
import { pickPorts } from '../support/testbed/ports.js';

// The agent's own notifications, end to end: Exchange breaks, the webhook hears "firing" once the threshold
// is reached, and "resolved" after the repair.

let bed: EmulatorBed;
let receiver: Server;
let receiverUrl: string;
let agent: AgentProcess | undefined;
const received: Array<{ status: string; event: string; monitor: string; check: string; reason: string | null; fixes: string[] }> = [];

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

before(async () => {
  bed = await startEmulatorBed();
  receiver = createServer((req, res) => {
    void body(req).then((text) => {
      received.push(JSON.parse(text) as (typeof received)[number]);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const address = receiver.address();
  receiverUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook/secret-token-in-path`;
});

after(async () => {
  await agent?.stop();
  receiver?.close();
  await bed?.close();
});

describe('built-in notifications through the running agent', () => {
  test('a broken mailbox fires after the threshold and resolves after repair; the URL never reaches the log', async () => {
    const { file } = writeMonitors(bed, {
      monitors: [{ name: 'helpdesk', checks: ['imap'], schedule: '* * * * * *' }],
      alerting: { failureThreshold: 2, notifiers: [{ type: 'webhook', name: 'ops', url: { env: 'HOOK_URL' } }] },
    });
    const [port] = await pickPorts(1);
    agent = await startAgentProcess(['--config', file], port ?? 0, { HOOK_URL: receiverUrl });
    await agent.waitFor('a first success', async () =>
      sampleValue(await agent!.metrics(), 'mailprobe_check_success', { monitor: 'helpdesk' }) === 1 ? true : undefined,
    );
    assert.equal(received.length, 0, 'healthy checks notify nobody');

    bed.model.setFullAccess(bed.tenantId, bed.mailbox, bed.clientId, false);
    const firing = await agent.waitFor('a firing notification', async () => received.find((n) => n.status === 'firing'));
    assert.equal(firing.monitor, 'helpdesk');
    assert.equal(firing.check, 'imap');
    assert.equal(firing.reason, 'auth_failed');
    assert.ok(firing.fixes.some((fix) => fix.includes('Add-MailboxPermission')));
    assert.equal(received.filter((n) => n.status === 'firing').length, 1, 'one notification per state change');

    bed.model.setFullAccess(bed.tenantId, bed.mailbox, bed.clientId, true);
    await agent.waitFor('a resolved notification', async () => received.find((n) => n.status === 'resolved'));
    await agent.waitFor('the delivery counter', async () =>
      (sampleValue(await agent!.metrics(), 'mailprobe_notifications_total', { notifier: 'ops', result: 'success' }) ?? 0) >= 2 ? true : undefined,
    );
    assert.ok(!agent.output().includes('secret-token-in-path'), 'the webhook URL path is a secret');
  });
});
