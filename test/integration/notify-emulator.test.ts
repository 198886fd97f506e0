import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createPki, type TestPki } from '../../src/sandbox/certs.js';
import { startEntra, type EntraServer } from '../../src/sandbox/entra.js';
import { startExchange, type ExchangeEmulator } from '../../src/sandbox/exchange.js';
import { defaultSecretValue, SandboxModel } from '../../src/sandbox/model.js';
import { startAgentProcess, sampleValue, type AgentProcess } from '../support/agent-process.js';
import { writeMonitors, type TestbedLike } from '../support/monitors.js';
import { pickPorts } from '../support/testbed/ports.js';

// The agent's own notifications, end to end: Exchange breaks, the webhook hears "firing" once the threshold
// is reached, and "resolved" after the repair.

let pki: TestPki;
let model: SandboxModel;
let entra: EntraServer;
let exchange: ExchangeEmulator;
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
  pki = await createPki();
  model = SandboxModel.fromSpec([{ domain: 'contoso.onmicrosoft.com', mailboxes: [{ address: 'probe@contoso.onmicrosoft.com' }] }]);
  model.tokenLifetimeSeconds = 305;
  entra = await startEntra({ model, tls: pki.server });
  exchange = await startExchange({ model, tls: pki.server });
  receiver = createServer((req, res) => {
    void body(req).then((text) => {
      received.push(JSON.parse(text));
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
  await Promise.allSettled([entra?.close(), exchange?.close()]);
});

describe('built-in notifications through the running agent', () => {
  test('a broken mailbox fires after the threshold and resolves after repair; the URL never reaches the log', async () => {
    const tenant = model.tenants()[0]!;
    const clientId = [...tenant.apps.keys()][0]!;
    const bed: TestbedLike = {
      ca: pki.ca.cert,
      entra,
      tenantId: tenant.tenantId,
      clientId,
      clientSecret: defaultSecretValue(clientId),
      mailbox: 'probe@contoso.onmicrosoft.com',
      imap: exchange.imap,
      pop3: exchange.pop3,
      smtp: exchange.smtp,
    };
    const { file } = writeMonitors(bed, {
      monitors: [{ name: 'helpdesk', checks: ['imap'], schedule: '* * * * * *' }],
      alerting: { failureThreshold: 2, notifiers: [{ type: 'webhook', name: 'ops', url: { env: 'HOOK_URL' } }] },
    });
    const [port] = await pickPorts(1);
    agent = await startAgentProcess(['--config', file], port ?? 0, { HOOK_URL: receiverUrl });
    await agent.waitFor('a first success', async () => (sampleValue(await agent!.metrics(), 'mailprobe_check_success', { monitor: 'helpdesk' }) === 1 ? true : undefined));
    assert.equal(received.length, 0, 'healthy checks notify nobody');

    model.setFullAccess(tenant.tenantId, bed.mailbox, clientId, false);
    const firing = await agent.waitFor('a firing notification', async () => received.find((n) => n.status === 'firing'));
    assert.equal(firing.monitor, 'helpdesk');
    assert.equal(firing.check, 'imap');
    assert.equal(firing.reason, 'auth_failed');
    assert.ok(firing.fixes.some((fix) => fix.includes('Add-MailboxPermission')));
    assert.equal(received.filter((n) => n.status === 'firing').length, 1, 'one notification per state change');

    model.setFullAccess(tenant.tenantId, bed.mailbox, clientId, true);
    await agent.waitFor('a resolved notification', async () => received.find((n) => n.status === 'resolved'));
    await agent.waitFor('the delivery counter', async () =>
      (sampleValue(await agent!.metrics(), 'mailprobe_notifications_total', { notifier: 'ops', result: 'success' }) ?? 0) >= 2 ? true : undefined,
    );
    assert.ok(!agent.output().includes('secret-token-in-path'), 'the webhook URL path is a secret');
  });
});
