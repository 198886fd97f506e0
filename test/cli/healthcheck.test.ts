import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../support/cli.js';

// A stand-in for the agent's listener that answers each path as told; the image test asks the real agent.
let server: Server;
let port: number;
const hanging = new Set<import('node:http').ServerResponse>();

before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/healthz') return void res.writeHead(200).end('ok\n');
    if (req.url === '/readyz') return void res.writeHead(503).end('{"ready":false}');
    hanging.add(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(() => {
  for (const res of hanging) res.destroy();
  server.closeAllConnections();
  server.close();
});

describe('mailprobe healthcheck', () => {
  test('exits 0 when /healthz answers 200', async () => {
    const run = await runCli(['healthcheck', '--url', `http://127.0.0.1:${port}/healthz`]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /healthy .*answered 200/);
  });

  test('--ready asks /readyz and exits 1 on 503', async () => {
    const run = await runCli(['healthcheck', '--ready'], { MAILPROBE_LISTEN: `0.0.0.0:${port}` });
    assert.equal(run.code, 1);
    assert.equal(run.stderr.trim(), `mailprobe: unhealthy: http://127.0.0.1:${port}/readyz answered 503`);
  });

  test('--ready with --url asks /readyz of that agent, not its root', async () => {
    const run = await runCli(['healthcheck', '--ready', '--url', `http://127.0.0.1:${port}`]);
    assert.equal(run.code, 1);
    assert.equal(run.stderr.trim(), `mailprobe: unhealthy: http://127.0.0.1:${port}/readyz answered 503`);
    const live = await runCli(['healthcheck', '--url', `http://127.0.0.1:${port}/`]);
    assert.equal(live.code, 0, live.stderr);
    assert.match(live.stdout, new RegExp(`http://127\\.0\\.0\\.1:${port}/healthz answered 200`));
    const conflicting = await runCli(['healthcheck', '--ready', '--url', `http://127.0.0.1:${port}/healthz`]);
    assert.equal(conflicting.code, 2);
    assert.match(conflicting.stderr, /--url ends in \/healthz but --ready asks \/readyz/);
  });

  test('exits 1 when nothing answers in time or nothing listens', async () => {
    const slow = await runCli(['healthcheck', '--url', `http://127.0.0.1:${port}/stall`, '--timeout', '0.3']);
    assert.equal(slow.code, 1);
    assert.match(slow.stderr, /no answer within 0\.3 s/);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const free = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await runCli(['healthcheck'], { MAILPROBE_LISTEN: `127.0.0.1:${free}` });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /ECONNREFUSED/);
  });

  test('reads the port from agent.listen of the monitors file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailprobe-health-'));
    const file = join(dir, 'monitors.json');
    writeFileSync(file, JSON.stringify({ agent: { listen: `0.0.0.0:${port}` }, tenants: {}, monitors: [] }));
    const run = await runCli(['healthcheck', '--config', file]);
    assert.equal(run.code, 0, run.stderr);
  });

  test('bad usage exits 2 with a message', async () => {
    const bad = await runCli(['healthcheck', '--timeout', 'soon']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.trim(), 'mailprobe: healthcheck: --timeout takes seconds between 0 and 300');
    const url = await runCli(['healthcheck', '--url', 'localhost:9465']);
    assert.equal(url.code, 2);
    const listen = await runCli(['healthcheck'], { MAILPROBE_LISTEN: 'nowhere' });
    assert.equal(listen.code, 2);
    assert.match(listen.stderr, /MAILPROBE_LISTEN="nowhere" is not a host:port/);
  });
});
