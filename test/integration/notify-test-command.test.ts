import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../support/cli.js';

// `mailprobe notify --test` against receivers on loopback: one accepts, one refuses as Slack does for a
// revoked webhook, one is not there. Each receiver's answer is printed; only the named ones are sent to.

interface Received {
  path: string;
  body: Record<string, unknown> | Array<Record<string, unknown>>;
}

let server: Server;
let base = '';
let closedPort = 0;
const received: Received[] = [];

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

before(async () => {
  server = createServer((req, res) => {
    void bodyOf(req).then((text) => {
      received.push({ path: req.url ?? '', body: JSON.parse(text) as Received['body'] });
      if (req.url === '/slack/revoked') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('no_service');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"accepted":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  closedPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
});

after(() => server.close());

function config(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-notify-'));
  const file = join(dir, 'monitors.json');
  writeFileSync(
    file,
    JSON.stringify({
      tenants: {
        t: { tenantId: 'contoso.onmicrosoft.com', clientId: '11111111-2222-3333-4444-555555555555', credential: { type: 'secret', secret: { env: 'X' } } },
      },
      monitors: [{ name: 'm', tenant: 't', mailbox: 'a@contoso.com' }],
      alerting: {
        notifiers: [
          { type: 'webhook', name: 'hook', url: `${base}/hook` },
          { type: 'slack', name: 'ops-slack', url: `${base}/slack/revoked` },
          { type: 'alertmanager', name: 'am', url: base },
          { type: 'teams', name: 'gone', url: `http://127.0.0.1:${closedPort}/teams` },
        ],
      },
    }),
  );
  return file;
}

describe('mailprobe notify --test', () => {
  test("sends one marked test through every notifier and prints each receiver's answer", async () => {
    received.length = 0;
    const run = await runCli(['notify', '--test', '--config', config()]);
    assert.equal(run.code, 1, 'one receiver refused, one was not there');
    assert.match(run.stdout, /^hook \(webhook\): accepted: HTTP 200 "\{\\"accepted\\":true\}"$/m);
    assert.match(run.stdout, /^ops-slack \(slack\): refused: HTTP 404 "no_service"$/m);
    assert.match(run.stdout, /^am \(alertmanager\): accepted: HTTP 200/m);
    assert.match(run.stdout, /^gone \(teams\): not sent: ECONNREFUSED$/m);
    assert.match(run.stdout, /^2 of 4 notifier\(s\) accepted the test notification$/m);
    const hook = received.find((entry) => entry.path === '/hook')?.body as Record<string, unknown>;
    assert.equal(hook.status, 'resolved', 'a test never pages');
    assert.equal(hook.monitor, 'mailprobe-test');
    assert.match(String(hook.summary), /^TEST NOTIFICATION from mailprobe notify --test/);
    const am = received.find((entry) => entry.path === '/api/v2/alerts')?.body as Array<{ labels: Record<string, string>; endsAt?: string }>;
    assert.equal(am[0]?.labels.monitor, 'mailprobe-test');
    assert.ok(am[0]?.endsAt, 'Alertmanager gets it already ended');
  });

  test('--notifier picks receivers; an unknown name is bad usage', async () => {
    received.length = 0;
    const file = config();
    const one = await runCli(['notify', '--test', '--notifier', 'hook', '--config', file]);
    assert.equal(one.code, 0, one.stdout + one.stderr);
    assert.deepEqual(
      received.map((entry) => entry.path),
      ['/hook'],
    );
    const typo = await runCli(['notify', '--test', '--notifier', 'hok', '--config', file]);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /no notifier named "hok" \(notifiers: hook, ops-slack, am, gone\)/);
  });
});
