import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { ConfigError } from '../../src/config/errors.js';
import { ListenerSecurity } from '../../src/http/security.js';
import { startHttpServer, type ListenerLimits, type RunningHttpServer } from '../../src/http/server.js';
import { parseWebConfig } from '../../src/http/web-config.js';
import type { Logger } from '../../src/log/logger.js';
import { MemoryLogger } from '../alerting/support.js';
import { MailprobeMetrics } from '../../src/metrics/metrics.js';
import { createClientCertificate, createPki, createSelfSigned, type Pem, type TestPki } from '../../src/sandbox/certs.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** SHA-256 fingerprint of the certificate the server presented (TLS only). */
  served?: string;
}

interface Call {
  headers?: Record<string, string>;
  ca?: string;
  client?: Pem;
}

function call(server: RunningHttpServer, path: string, init: Call = {}): Promise<Answer> {
  const tls = server.url.startsWith('https:');
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port: server.port, path, headers: init.headers, timeout: 5_000, agent: false as const };
    const onResponse = (res: import('node:http').IncomingMessage): void => {
      const chunks: Buffer[] = [];
      const served = tls ? (res.socket as TLSSocket).getPeerX509Certificate()?.fingerprint256 : undefined;
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), ...(served ? { served } : {}) }),
      );
      res.on('error', reject);
    };
    const req = tls
      ? httpsRequest({ ...options, ca: init.ca, ...(init.client ? { cert: init.client.cert, key: init.client.key } : {}) }, onResponse)
      : httpRequest(options, onResponse);
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

describe('listener security', () => {
  const metrics = new MailprobeMetrics({ version: '1.2.3', collectDefault: false });
  let dir: string;
  let pki: TestPki;
  let client: Pem;
  let stranger: Pem;
  const servers: RunningHttpServer[] = [];
  // Cost 4 keeps the tests quick; the cost is read from the hash, so production hashes of cost 10+ work the same.
  const aliceHash = bcrypt.hashSync('wonderland', 4);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mailprobe-listener-'));
    pki = await createPki();
    [client, stranger] = await Promise.all([createClientCertificate(pki.ca, 'prometheus.test'), createSelfSigned('prometheus.test')]);
    writeFileSync(join(dir, 'server.crt'), pki.server.cert);
    writeFileSync(join(dir, 'server.key'), pki.server.key);
    writeFileSync(join(dir, 'ca.crt'), pki.ca.cert);
  });
  after(async () => {
    await Promise.all(servers.map((server) => server.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function serve(
    files: { web?: string; tokens?: string },
    options: { host?: string; limits?: Partial<ListenerLimits>; status?: () => unknown; logger?: Logger } = {},
  ): Promise<RunningHttpServer> {
    const name = `${servers.length}`;
    const webConfigFile = files.web === undefined ? undefined : join(dir, `web-${name}.yml`);
    const bearerTokenFile = files.tokens === undefined ? undefined : join(dir, `tokens-${name}`);
    if (webConfigFile) writeFileSync(webConfigFile, files.web ?? '');
    if (bearerTokenFile) writeFileSync(bearerTokenFile, files.tokens ?? '');
    const logger = options.logger ?? new MemoryLogger();
    const security = new ListenerSecurity({
      logger,
      recheckMs: 0,
      ...(webConfigFile ? { webConfigFile } : {}),
      ...(bearerTokenFile ? { bearerTokenFile } : {}),
    });
    const server = await startHttpServer({
      host: options.host ?? '127.0.0.1',
      port: 0,
      metrics,
      logger,
      security,
      health: () => ({ ready: true, detail: {} }),
      status: options.status ?? (() => ({ mailbox: 'probe@contoso.com' })),
      ...(options.limits ? { limits: options.limits } : {}),
    });
    servers.push(server);
    return server;
  }

  test('TLS: serves HTTPS with the configured certificate and min_version', async () => {
    const server = await serve({ web: 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS13\n' });
    assert.match(server.url, /^https:\/\//);
    const answer = await call(server, '/metrics', { ca: pki.ca.cert });
    assert.equal(answer.status, 200);
    assert.equal(answer.served, fingerprint(pki.server.cert));
    await assert.rejects(
      new Promise((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port: server.port, path: '/healthz', ca: pki.ca.cert, maxVersion: 'TLSv1.2', agent: false }, resolve);
        req.on('error', reject);
        req.end();
      }),
      /protocol version|alert/i,
    );
  });

  test('mTLS: RequireAndVerifyClientCert takes only certificates signed by client_ca_file', async () => {
    const server = await serve({
      web: 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n',
    });
    assert.equal((await call(server, '/api/status', { ca: pki.ca.cert, client })).status, 200);
    await assert.rejects(call(server, '/healthz', { ca: pki.ca.cert }), /certificate|alert|socket hang up|ECONNRESET/i);
    await assert.rejects(call(server, '/healthz', { ca: pki.ca.cert, client: stranger }), /certificate|alert|socket hang up|ECONNRESET/i);
  });

  test('mTLS: client_allowed_sans refuses a verified certificate with another name', async () => {
    const server = await serve({
      web: 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  client_allowed_sans: [grafana.test]\n',
    });
    await assert.rejects(call(server, '/healthz', { ca: pki.ca.cert, client }), /socket hang up|ECONNRESET/i);
  });

  test('basic auth: bcrypt users guard /metrics and /api/*; /healthz and /readyz stay open; headers are set', async () => {
    const server = await serve({
      web: `basic_auth_users:\n  alice: ${aliceHash}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n`,
    });
    for (const path of ['/metrics', '/api/status', '/api/anything-else']) {
      const refused = await call(server, path);
      assert.equal(refused.status, 401, path);
      assert.equal(refused.headers['www-authenticate'], 'Basic');
      assert.ok(!refused.body.includes('probe@contoso.com'));
    }
    assert.equal((await call(server, '/metrics', { headers: basic('alice', 'wrong') })).status, 401);
    assert.equal((await call(server, '/metrics', { headers: basic('mallory', 'wonderland') })).status, 401);
    const allowed = await call(server, '/api/status', { headers: basic('alice', 'wonderland') });
    assert.equal(allowed.status, 200);
    assert.match(allowed.body, /probe@contoso.com/);
    assert.equal(allowed.headers['x-frame-options'], 'deny');
    for (const path of ['/healthz', '/readyz']) {
      const open = await call(server, path);
      assert.equal(open.status, 200, path);
      assert.equal(open.headers['strict-transport-security'], 'max-age=31536000');
    }
  });

  test('bearer tokens: any line of the token file grants access; others are refused', async () => {
    const server = await serve({ tokens: '# scrape tokens\nfirst-token\n\nsecond-token\n' });
    assert.equal((await call(server, '/metrics')).status, 401);
    assert.equal((await call(server, '/metrics')).headers['www-authenticate'], 'Bearer');
    assert.equal((await call(server, '/metrics', { headers: { Authorization: 'Bearer second-token' } })).status, 200);
    assert.equal((await call(server, '/metrics', { headers: { Authorization: 'Bearer third-token' } })).status, 401);
    assert.equal((await call(server, '/metrics', { headers: basic('second-token', '') })).status, 401);
    assert.equal((await call(server, '/healthz')).status, 200);
  });

  test('connection cap: connections past maxConnections are dropped; health answers again once one closes', async () => {
    const logger = new MemoryLogger();
    const server = await serve({}, { limits: { maxConnections: 2 }, logger });
    const open = await Promise.all([0, 1].map(() => idleSocket(server.port)));
    const dropped = await idleSocket(server.port);
    const closed = await new Promise<boolean>((resolve) => {
      dropped.once('close', () => resolve(true));
      setTimeout(() => resolve(false), 2_000);
    });
    assert.ok(closed, 'the third connection was not dropped');
    assert.ok(logger.entries.some((entry) => entry.message === 'http connection dropped: too many open connections'));
    open[0]?.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await call(server, '/healthz')).status, 200);
    for (const socket of open) socket.destroy();
  });

  test('heavy renders: past maxHeavyRequests a scrape gets 503 with Retry-After instead of queueing', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const server = await serve({}, { limits: { maxHeavyRequests: 1 }, status: async () => (await gate, { slow: true }) });
    const first = call(server, '/api/status');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const busy = await call(server, '/metrics');
    assert.equal(busy.status, 503);
    assert.equal(busy.headers['retry-after'], '1');
    assert.equal((await call(server, '/healthz')).status, 200);
    release();
    assert.equal((await first).status, 200);
    assert.equal((await call(server, '/metrics')).status, 200);
  });

  test('rotation: a new certificate and a new user apply without a restart; a broken file fails closed', async () => {
    writeFileSync(join(dir, 'rot.crt'), pki.server.cert);
    writeFileSync(join(dir, 'rot.key'), pki.server.key);
    const tls = 'tls_server_config:\n  cert_file: rot.crt\n  key_file: rot.key\n';
    const server = await serve({ web: `${tls}basic_auth_users:\n  alice: ${aliceHash}\n` });
    const configFile = join(dir, `web-${servers.length - 1}.yml`);
    const first = await call(server, '/metrics', { ca: pki.ca.cert, headers: basic('alice', 'wonderland') });
    assert.equal(first.status, 200);
    assert.equal(first.served, fingerprint(pki.server.cert));

    const renewed = await createPki();
    writeFileSync(join(dir, 'rot.crt'), renewed.server.cert);
    writeFileSync(join(dir, 'rot.key'), renewed.server.key);
    writeFileSync(configFile, `${tls}basic_auth_users:\n  bob: ${bcrypt.hashSync('builder', 4)}\n`);
    const second = await call(server, '/metrics', { ca: renewed.ca.cert, headers: basic('bob', 'builder') });
    assert.equal(second.status, 200);
    assert.equal(second.served, fingerprint(renewed.server.cert));
    assert.equal((await call(server, '/metrics', { ca: renewed.ca.cert, headers: basic('alice', 'wonderland') })).status, 401);

    writeFileSync(configFile, `${tls}basic_auth_users: [not, a, map]\n`);
    assert.equal((await call(server, '/metrics', { ca: renewed.ca.cert, headers: basic('bob', 'builder') })).status, 500);
    assert.equal((await call(server, '/healthz', { ca: renewed.ca.cert })).status, 200, 'the last good certificate keeps serving health');
  });

  test('a non-loopback bind without TLS or authentication is warned about', async () => {
    const logger = new MemoryLogger();
    await serve({}, { host: '0.0.0.0', logger });
    const warning = logger.entries.find((entry) => entry.level === 'warn' && entry.message.startsWith('the listener is reachable'));
    assert.equal(warning?.message, 'the listener is reachable from other machines without TLS or authentication');
    const quiet = new MemoryLogger();
    await serve({}, { logger: quiet });
    assert.ok(!quiet.entries.some((entry) => entry.message.startsWith('the listener is reachable')));
  });
});

describe('parseWebConfig', () => {
  const file = '/etc/mailprobe/web.yml';
  const cases: Array<[string, string]> = [
    ['tls_server_config:\n  cert_file: a\n  keyfile: b\n', '/etc/mailprobe/web.yml: tls_server_config: unknown field "keyfile"'],
    [
      'tls_server_config:\n  cert_file: /nonexistent/a.crt\n  key_file: b\n',
      '/etc/mailprobe/web.yml: tls_server_config.cert_file: cannot read /nonexistent/a.crt (ENOENT)',
    ],
    ['tls_server_config:\n  key: x\n', '/etc/mailprobe/web.yml: tls_server_config: missing one of cert or cert_file'],
    [
      'basic_auth_users:\n  alice: plaintext\n',
      `/etc/mailprobe/web.yml: basic_auth_users.alice: not a bcrypt hash (make one with: htpasswd -nBC 10 "" | tr -d ':\\n')`,
    ],
    [
      'http_server_config:\n  headers:\n    X-Powered-By: me\n',
      '/etc/mailprobe/web.yml: http_server_config.headers.X-Powered-By: HTTP header "X-Powered-By" can not be configured (allowed: Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy)',
    ],
    [
      'http_server_config:\n  headers:\n    X-Frame-Options: allow\n',
      '/etc/mailprobe/web.yml: http_server_config.headers.X-Frame-Options: expected one of "deny", "sameorigin", got "allow"',
    ],
    ['rate_limit:\n  interval: soon\n', '/etc/mailprobe/web.yml: rate_limit.interval: "soon" is not a duration such as 1s or 500ms'],
    [
      'tls_server_config: {cert: x, key: y, client_auth_type: Sometimes}\n',
      '/etc/mailprobe/web.yml: tls_server_config.client_auth_type: expected one of "NoClientCert"|"RequestClientCert"|"RequireAnyClientCert"|"RequireClientCert"|"VerifyClientCertIfGiven"|"RequireAndVerifyClientCert"',
    ],
    ['a: 1\na: 2\n', '/etc/mailprobe/web.yml: not valid YAML: Map keys must be unique'],
  ];
  for (const [text, message] of cases) {
    test(message.slice(file.length + 2, file.length + 60), () => {
      assert.throws(
        () => parseWebConfig(text, file),
        (error: unknown) => error instanceof ConfigError && error.message === message,
      );
    });
  }

  test('an empty file is valid and changes nothing', () => {
    const config = parseWebConfig('', file);
    assert.equal(config.tls, undefined);
    assert.equal(config.users.size, 0);
    assert.deepEqual(config.headers, {});
  });

  test('TLS fields map onto Node: versions, cipher suites, curves, client auth', async () => {
    const pki = await createPki();
    const yaml = [
      'tls_server_config:',
      `  cert: |\n${indent(pki.server.cert)}`,
      `  key: |\n${indent(pki.server.key)}`,
      `  client_ca: |\n${indent(pki.ca.cert)}`,
      '  client_auth_type: RequireClientCert',
      '  min_version: TLS12',
      '  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]',
      '  curve_preferences: [X25519, CurveP256]',
      '  prefer_server_cipher_suites: false',
      'rate_limit: {interval: 1m30s, burst: 5}',
    ].join('\n');
    const config = parseWebConfig(yaml, file);
    assert.equal(config.tls?.clientAuth, 'RequireAnyClientCert');
    assert.equal(config.tls?.context.ciphers, 'ECDHE-RSA-AES128-GCM-SHA256');
    assert.equal(config.tls?.context.ecdhCurve, 'X25519:P-256');
    assert.equal(config.tls?.context.minVersion, 'TLSv1.2');
    assert.equal(config.tls?.context.honorCipherOrder, false);
    assert.deepEqual(config.rateLimit, { intervalMs: 90_000, burst: 5 });
    assert.throws(
      () => parseWebConfig(yaml.replace('RequireClientCert', 'NoClientCert'), file),
      /client CA's have been configured without a Client Auth Policy/,
    );
    assert.throws(() => parseWebConfig(yaml.replace('TLS_AES_128_GCM_SHA256', 'TLS_MADE_UP'), file), /cipher_suites\[1\]: unknown cipher: TLS_MADE_UP/);
  });
});

function indent(pem: string): string {
  return pem
    .trim()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

function idleSocket(port: number): Promise<import('node:net').Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}
