import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ListenerSecurity } from '../../src/http/security.js';
import { startHttpServer, type RunningHttpServer } from '../../src/http/server.js';
import { MailprobeMetrics } from '../../src/metrics/metrics.js';
import { createClientCertificate, createSelfSigned } from '../../src/sandbox/certs.js';
import { MemoryLogger } from '../alerting/support.js';
import { testPki } from '../support/scripted-server.js';
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

// Issue 25 row 12: the image's HEALTHCHECK always spoke http, so an agent serving TLS was unhealthy for ever.
describe('mailprobe healthcheck follows the web configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-health-tls-'));
  const servers: RunningHttpServer[] = [];
  after(() => Promise.all(servers.map((running) => running.close())));

  async function agentListener(webConfig: string): Promise<RunningHttpServer> {
    const logger = new MemoryLogger();
    const running = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      metrics: new MailprobeMetrics({ version: '0', collectDefault: false }),
      logger,
      security: new ListenerSecurity({ webConfigFile: webConfig, logger }),
      health: () => ({ ready: true, detail: {} }),
      status: () => ({}),
    });
    servers.push(running);
    return running;
  }

  test('speaks https to a TLS listener and accepts exactly its cert_file, whatever names it holds', async () => {
    const pki = await testPki();
    writeFileSync(join(dir, 'agent.crt'), pki.server.cert);
    writeFileSync(join(dir, 'agent.key'), pki.server.key);
    const webConfig = join(dir, 'web.yml');
    writeFileSync(webConfig, 'tls_server_config:\n  cert_file: agent.crt\n  key_file: agent.key\n');
    const listener = await agentListener(webConfig);
    const listen = { MAILPROBE_LISTEN: `0.0.0.0:${listener.port}` };

    const flag = await runCli(['healthcheck', '--web.config.file', webConfig], listen);
    assert.equal(flag.code, 0, flag.stderr);
    assert.equal(flag.stdout.trim(), `mailprobe: healthy (https://127.0.0.1:${listener.port}/healthz answered 200)`);
    const fromEnv = await runCli(['healthcheck', '--ready'], { ...listen, MAILPROBE_WEB_CONFIG_FILE: webConfig });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    const monitors = join(dir, 'monitors.json');
    writeFileSync(monitors, JSON.stringify({ agent: { listen: `0.0.0.0:${listener.port}`, webConfigFile: 'web.yml' }, tenants: {}, monitors: [] }));
    const fromFile = await runCli(['healthcheck', '--config', monitors]);
    assert.equal(fromFile.code, 0, fromFile.stderr);

    // Plain http to a TLS listener is what the image did before: it never answers 200.
    const plain = await runCli(['healthcheck'], listen);
    assert.equal(plain.code, 1);
  });

  test('refuses a listener that presents another certificate than cert_file', async () => {
    const pki = await testPki();
    const other = await createSelfSigned('not the agent');
    writeFileSync(join(dir, 'served.crt'), pki.server.cert);
    writeFileSync(join(dir, 'served.key'), pki.server.key);
    writeFileSync(join(dir, 'other.crt'), other.cert);
    writeFileSync(join(dir, 'other.key'), other.key);
    writeFileSync(join(dir, 'web-served.yml'), 'tls_server_config:\n  cert_file: served.crt\n  key_file: served.key\n');
    writeFileSync(join(dir, 'web-other.yml'), 'tls_server_config:\n  cert_file: other.crt\n  key_file: other.key\n');
    const listener = await agentListener(join(dir, 'web-served.yml'));
    const run = await runCli(['healthcheck', '--web.config.file', join(dir, 'web-other.yml')], { MAILPROBE_LISTEN: `127.0.0.1:${listener.port}` });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /presented a certificate other than cert_file of the web configuration/);
  });

  test('a listener that requires client certificates is asked with --cert and --key', async () => {
    const pki = await testPki();
    const client = await createClientCertificate(pki.ca, 'healthcheck');
    writeFileSync(join(dir, 'mtls.crt'), pki.server.cert);
    writeFileSync(join(dir, 'mtls.key'), pki.server.key);
    writeFileSync(join(dir, 'clients-ca.crt'), pki.ca.cert);
    writeFileSync(join(dir, 'client.crt'), client.cert);
    writeFileSync(join(dir, 'client.key'), client.key);
    const webConfig = join(dir, 'web-mtls.yml');
    writeFileSync(
      webConfig,
      'tls_server_config:\n  cert_file: mtls.crt\n  key_file: mtls.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients-ca.crt\n',
    );
    const listener = await agentListener(webConfig);
    const env = { MAILPROBE_LISTEN: `127.0.0.1:${listener.port}`, MAILPROBE_WEB_CONFIG_FILE: webConfig };
    const without = await runCli(['healthcheck', '--timeout', '5'], env);
    assert.equal(without.code, 1, 'no client certificate, no answer');
    const withCert = await runCli(['healthcheck', '--cert', join(dir, 'client.crt'), '--key', join(dir, 'client.key')], env);
    assert.equal(withCert.code, 0, withCert.stderr);
    const half = await runCli(['healthcheck', '--cert', join(dir, 'client.crt')], env);
    assert.equal(half.code, 2);
    assert.match(half.stderr, /--cert and --key go together/);
  });

  test('--ca verifies an https --url against that CA', async () => {
    const pki = await testPki();
    const webConfig = join(dir, 'web-ca.yml');
    writeFileSync(join(dir, 'ca-agent.crt'), pki.server.cert);
    writeFileSync(join(dir, 'ca-agent.key'), pki.server.key);
    writeFileSync(join(dir, 'ca.crt'), pki.ca.cert);
    writeFileSync(webConfig, 'tls_server_config:\n  cert_file: ca-agent.crt\n  key_file: ca-agent.key\n');
    const listener = await agentListener(webConfig);
    const url = `https://localhost:${listener.port}`;
    const unknownCa = await runCli(['healthcheck', '--url', url]);
    assert.equal(unknownCa.code, 1);
    assert.match(unknownCa.stderr, /SELF_SIGNED|UNABLE_TO_VERIFY|unable to verify/i);
    const trusted = await runCli(['healthcheck', '--url', url, '--ca', join(dir, 'ca.crt')]);
    assert.equal(trusted.code, 0, trusted.stderr);
  });
});
