import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MsalTokenProvider, scopeFor, type TokenResult } from '../../src/auth/token-provider.js';
import type { ResolvedTenant } from '../../src/config/types.js';
import type { ReasonCode } from '../../src/core/reasons.js';
import { systemClock } from '../../src/core/clock.js';
import { Redactor } from '../../src/log/redact.js';
import { parseConfig } from '../../src/config/load.js';
import { createCertificateCredential, createPki, createSelfSigned, type CertificateCredential, type TestPki } from '../../src/sandbox/certs.js';
import { startEntra, type EntraServer } from '../../src/sandbox/entra.js';
import { defaultSecretValue, SandboxModel } from '../../src/sandbox/model.js';
import { startScriptedProxy } from '../support/scripted-proxy.js';

const TENANT = '0f1e2d3c-4b5a-4697-8877-665544332211';
const CLIENT = '3a4b5c6d-7e8f-4a0b-9c1d-2e3f4a5b6c7d';
const CERT_CLIENT = '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a';
const SECRET = defaultSecretValue(CLIENT);

let pki: TestPki;
let cert: CertificateCredential;
let model: SandboxModel;
let entra: EntraServer;
let dir: string;
const events: Array<{ tenant: string; result: string }> = [];

function tenant(overrides: Partial<ResolvedTenant> = {}): ResolvedTenant {
  return {
    key: `t-${Math.random().toString(36).slice(2)}`,
    tenantId: TENANT,
    clientId: CLIENT,
    cloud: 'global',
    credential: { type: 'secret', secret: { env: 'SECRET' } },
    authorityHost: entra.authorityHost,
    scope: 'https://outlook.office.com/.default',
    baseDir: dir,
    tls: { ca: [pki.ca.cert], rejectUnauthorized: true },
    ...overrides,
  };
}

function provider(env: NodeJS.ProcessEnv = { SECRET }, timeoutMs = 3000): MsalTokenProvider {
  return new MsalTokenProvider({
    clock: systemClock,
    env,
    timeoutMs,
    redact: (text) => new Redactor().redact(text),
    events: { onRequest: (t, result) => events.push({ tenant: t.key, result }), onToken: () => undefined },
  });
}

function failureOf(result: TokenResult): { reason: ReasonCode; serverText?: string; message: string } {
  assert.equal(result.ok, false, 'expected a token failure');
  if (result.ok) throw new Error('unreachable');
  return result.failure;
}

before(async () => {
  [pki, cert] = await Promise.all([createPki(), createCertificateCredential('mailprobe cert app')]);
  dir = mkdtempSync(join(tmpdir(), 'mailprobe-auth-'));
  writeFileSync(join(dir, 'app.pem'), cert.cert);
  writeFileSync(join(dir, 'app.key'), cert.key);
  model = SandboxModel.fromSpec([
    {
      tenantId: TENANT,
      apps: [
        { clientId: CLIENT, secrets: [{ value: SECRET }] },
        { clientId: CERT_CLIENT, secrets: [], certificates: [{ certPem: cert.cert }] },
      ],
    },
  ]);
  entra = await startEntra({ model, tls: pki.server });
});

after(async () => {
  await entra.close();
});

describe('token provider against the Entra emulator', () => {
  test('issues a token with decoded claims and serves later checks from the cache', async () => {
    const tokens = provider();
    const t = tenant();
    const before = entra.tokenRequests();
    const results = await Promise.all(Array.from({ length: 20 }, () => tokens.getToken(t)));
    const again = await tokens.getToken(t);
    for (const result of [...results, again]) {
      assert.equal(result.ok, true);
      if (!result.ok) continue;
      assert.deepEqual([...result.claims.roles].sort(), ['IMAP.AccessAsApp', 'POP.AccessAsApp', 'SMTP.SendAsApp']);
      assert.equal(result.claims.aud, 'https://outlook.office.com');
      assert.equal(result.claims.tid, TENANT);
      assert.equal(result.claims.appid, CLIENT);
      assert.ok(result.expiresAt > Date.now());
      assert.equal(String(result.token), '[redacted]');
    }
    assert.equal(entra.tokenRequests() - before, 1, 'one authority request for 21 checks');
    assert.equal(tokens.requestCount(t), 1);
    assert.deepEqual(
      events.filter((e) => e.tenant === t.key).map((e) => e.result),
      ['success'],
    );
  });

  test('one token request per app and resource: Exchange and Graph checks of one app share a token per resource', async () => {
    const tokens = provider();
    const t = tenant();
    const other = tenant();
    const before = entra.tokenRequests();
    const asks = (tenantOf: ResolvedTenant, n: number) =>
      Array.from({ length: n }, (_, i) => tokens.getToken(tenantOf, scopeFor(tenantOf, i % 2 === 0 ? 'exchange' : 'graph')));
    const results = await Promise.all([...asks(t, 20), ...asks(other, 4)]);
    const again = await Promise.all([...asks(t, 4), ...asks(other, 4)]);
    const audiences = [...results, ...again].map((result) => (result.ok ? result.claims.aud : `failed: ${result.failure.reason}`));
    assert.deepEqual(
      [...new Set(audiences)].sort(),
      ['https://graph.microsoft.com', 'https://outlook.office.com'],
      'each resource got its own token, and no ask failed',
    );
    assert.equal(entra.tokenRequests() - before, 4, 'two apps (tenant entries) x two resources');
    assert.equal(tokens.requestCount(t), 2);
    assert.equal(tokens.requestCount(other), 2);
    assert.equal(scopeFor(t, 'graph'), 'https://graph.microsoft.com/.default');
    assert.equal(scopeFor({ ...t, scope: 'https://ps.outlook.com/.default' }, 'exchange'), 'https://ps.outlook.com/.default', 'a tenant’s own Exchange scope');
  });

  test('two scopes of one app asked at once are each judged on their own answer', async () => {
    const tokens = provider();
    const t = tenant();
    const [exchange, unknown] = await Promise.all([tokens.getToken(t), tokens.getToken(t, 'https://unknown.example.com/.default')]);
    assert.equal(exchange.ok, true);
    const failure = failureOf(unknown);
    assert.equal(failure.reason, 'token_invalid_resource');
    assert.match(failure.serverText ?? '', /^AADSTS500011: /);
  });

  test('a certificate credential signs a client assertion the service accepts', async () => {
    const result = await provider({}).getToken(tenant({ clientId: CERT_CLIENT, credential: { type: 'certificate', certFile: 'app.pem', keyFile: 'app.key' } }));
    assert.equal(result.ok, true);
    if (result.ok) assert.equal(result.claims.appidacr, '2');
  });

  const refusals: Array<[string, () => ResolvedTenant, NodeJS.ProcessEnv, ReasonCode, RegExp]> = [
    ['wrong secret', () => tenant(), { SECRET: 'wrong-value' }, 'token_invalid_client_secret', /^AADSTS7000215: Invalid client secret provided/],
    ['unknown app', () => tenant({ clientId: '11111111-2222-4333-8444-555555555555' }), { SECRET }, 'token_unknown_app', /^AADSTS700016: /],
    ['unknown tenant', () => tenant({ tenantId: 'nowhere.onmicrosoft.com' }), { SECRET }, 'token_unknown_tenant', /^AADSTS90002: /],
    ['scope without /.default', () => tenant({ scope: 'https://outlook.office.com/IMAP.AccessAsApp' }), { SECRET }, 'token_invalid_scope', /^AADSTS1002012: /],
  ];
  for (const [name, make, env, reason, text] of refusals) {
    test(`${name} → ${reason} with Entra's own words`, async () => {
      const failure = failureOf(await provider(env).getToken(make()));
      assert.equal(failure.reason, reason);
      assert.match(failure.serverText ?? '', text);
      assert.ok(!JSON.stringify(failure).includes('wrong-value'), 'the secret never appears');
    });
  }

  test('an expired secret → token_secret_expired', async () => {
    const expiring = SandboxModel.fromSpec([{ tenantId: TENANT, apps: [{ clientId: CLIENT, secrets: [{ value: SECRET }] }] }]);
    expiring.expireSecret(TENANT, CLIENT);
    const server = await startEntra({ model: expiring, tls: pki.server });
    try {
      const failure = failureOf(await provider().getToken(tenant({ authorityHost: server.authorityHost })));
      assert.equal(failure.reason, 'token_secret_expired');
      assert.match(failure.serverText ?? '', /^AADSTS7000222: /);
    } finally {
      await server.close();
    }
  });

  test('429 with Retry-After → throttled, and no further request until it has passed', async () => {
    const throttled = SandboxModel.fromSpec([{ tenantId: TENANT, apps: [{ clientId: CLIENT, secrets: [{ value: SECRET }] }] }]);
    throttled.faults.tokenThrottleSeconds = 30;
    const server = await startEntra({ model: throttled, tls: pki.server });
    try {
      const tokens = provider();
      const t = tenant({ authorityHost: server.authorityHost });
      const first = await tokens.getToken(t);
      assert.equal(failureOf(first).reason, 'throttled');
      assert.ok(!first.ok && first.retryAfterSeconds === 30);
      const second = await tokens.getToken(t);
      assert.equal(failureOf(second).reason, 'throttled');
      assert.equal(server.tokenRequests(), 1, 'the second attempt waited instead of asking again');
    } finally {
      await server.close();
    }
  });

  test('one HTTP 500 is one reason for every check that asks while msal holds requests back', async () => {
    const failing = SandboxModel.fromSpec([{ tenantId: TENANT, apps: [{ clientId: CLIENT, secrets: [{ value: SECRET }] }] }]);
    failing.faults.tokenServerError = true;
    const server = await startEntra({ model: failing, tls: pki.server });
    try {
      const tokens = provider();
      const t = tenant({ authorityHost: server.authorityHost });
      const failures = [failureOf(await tokens.getToken(t)), failureOf(await tokens.getToken(t)), failureOf(await tokens.getToken(t))];
      assert.deepEqual(
        failures.map((failure) => `${failure.reason}: ${failure.serverText ?? ''}`),
        Array(3).fill('token_endpoint_unreachable: HTTP 500'),
      );
      assert.equal(server.tokenRequests(), 1, 'msal held the later requests back');
    } finally {
      await server.close();
    }
  });

  test('a login service that never answers → timeout within the bound', async () => {
    const hanging = SandboxModel.fromSpec([{ tenantId: TENANT, apps: [{ clientId: CLIENT, secrets: [{ value: SECRET }] }] }]);
    hanging.faults.tokenHang = true;
    const server = await startEntra({ model: hanging, tls: pki.server });
    try {
      const failure = failureOf(await provider({ SECRET }, 300).getToken(tenant({ authorityHost: server.authorityHost })));
      assert.equal(failure.reason, 'timeout');
    } finally {
      await server.close();
    }
  });

  test('a closed port → token_endpoint_unreachable', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    const failure = failureOf(await provider().getToken(tenant({ authorityHost: `127.0.0.1:${port}` })));
    assert.equal(failure.reason, 'token_endpoint_unreachable');
    assert.match(failure.message, /ECONNREFUSED/);
  });

  test('through the outbound proxy: HTTPS_PROXY carries token requests in a CONNECT tunnel, NO_PROXY and "direct" skip it', async () => {
    const proxy = await startScriptedProxy({ forward: true });
    try {
      const viaEnv = await provider({ SECRET, HTTPS_PROXY: proxy.url }).getToken(tenant());
      assert.equal(viaEnv.ok, true, JSON.stringify(viaEnv));
      assert.ok(proxy.heads.length > 0 && proxy.heads.every((head) => head.startsWith(`CONNECT ${entra.authorityHost} HTTP/1.1`)), proxy.heads.join('|'));
      const seen = proxy.heads.length;
      assert.equal((await provider({ SECRET, HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' }).getToken(tenant())).ok, true);
      assert.equal((await provider({ SECRET, HTTPS_PROXY: proxy.url }).getToken(tenant({ proxy: 'direct' }))).ok, true);
      assert.equal(proxy.heads.length, seen, 'NO_PROXY and "direct" went through the proxy');
      assert.equal((await provider({ SECRET }).getToken(tenant({ proxy: proxy.url }))).ok, true);
      assert.equal(proxy.heads.length, seen + 2, 'the tenant’s proxy setting was not used');
    } finally {
      await proxy.close();
    }
  });

  test('a proxy that wants other credentials → proxy_auth_required with its status line, never the password', async () => {
    const proxy = await startScriptedProxy({ reply: 'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="corp"\r\n\r\n' });
    try {
      const failure = failureOf(await provider({ SECRET, https_proxy: proxy.url.replace('http://', 'http://svc:hunter2@') }).getToken(tenant()));
      assert.equal(failure.reason, 'proxy_auth_required');
      assert.equal(failure.serverText, 'HTTP/1.1 407 Proxy Authentication Required');
      assert.equal(
        failure.message,
        `cannot reach the login service https://${entra.authorityHost}: the proxy ${proxy.url} refused the credentials in the proxy URL for CONNECT to ${entra.authorityHost}: HTTP/1.1 407 Proxy Authentication Required`,
      );
      assert.ok(!JSON.stringify(failure).includes('hunter2') && !JSON.stringify(failure).includes(Buffer.from('svc:hunter2').toString('base64')));
    } finally {
      await proxy.close();
    }
  });

  test('an unusable proxy variable → config_invalid naming the variable, not its value', async () => {
    const failure = failureOf(await provider({ SECRET, HTTPS_PROXY: 'socks5://svc:hunter2@127.0.0.1:1080' }).getToken(tenant()));
    assert.equal(failure.reason, 'config_invalid');
    assert.match(failure.message, /HTTPS_PROXY uses socks5:\/\/; mailprobe speaks to a proxy over http:\/\/ \(HTTP CONNECT\) only/);
    assert.ok(!failure.message.includes('hunter2'));
  });

  test('an unknown tenant is refused at the metadata request: AADSTS90002, not "unreachable"', async () => {
    const before = entra.tokenRequests();
    const failure = failureOf(await provider().getToken(tenant({ tenantId: 'contoso-typo.onmicrosoft.com' })));
    assert.equal(failure.reason, 'token_unknown_tenant');
    assert.equal(
      failure.serverText,
      "AADSTS90002: Tenant 'contoso-typo.onmicrosoft.com' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.",
    );
    assert.equal(failure.message, 'the login service refused the metadata request (HTTP 400)');
    assert.equal(entra.tokenRequests(), before, 'msal stops at the metadata; the secret is never posted');
  });

  test('a TLS-intercepting proxy (certificate from an unknown CA) → token_tls_untrusted, secret not posted', async () => {
    const before = entra.tokenRequests();
    const failure = failureOf(await provider().getToken(tenant({ tls: { rejectUnauthorized: true } })));
    assert.equal(failure.reason, 'token_tls_untrusted');
    assert.equal(failure.message, `the certificate of the login service https://${entra.authorityHost} did not verify: UNABLE_TO_VERIFY_LEAF_SIGNATURE`);
    assert.equal(entra.tokenRequests(), before);
  });

  test('an expired login host certificate → token_tls_untrusted (CERT_HAS_EXPIRED)', async () => {
    const expired = await createSelfSigned('127.0.0.1', { notBefore: new Date(Date.now() - 10 * 86_400_000), validDays: 1 });
    const server = await startEntra({ model, tls: expired });
    try {
      const failure = failureOf(
        await provider().getToken(tenant({ authorityHost: server.authorityHost, tls: { ca: [expired.cert], rejectUnauthorized: true } })),
      );
      assert.equal(failure.reason, 'token_tls_untrusted');
      assert.match(failure.message, /: CERT_HAS_EXPIRED$/);
      assert.equal(server.tokenRequests(), 0, 'the client secret went nowhere');
    } finally {
      await server.close();
    }
  });

  test("the mail servers' rejectUnauthorized: false leaves the login host verified", async () => {
    const config = parseConfig(
      JSON.stringify({
        defaults: { tls: { rejectUnauthorized: false } },
        tenants: { t: { tenantId: TENANT, clientId: CLIENT, authorityHost: entra.authorityHost, credential: { type: 'secret', secret: { env: 'SECRET' } } } },
        monitors: [],
      }),
      join(dir, 'monitors.json'),
    );
    const resolved = config.tenants.get('t');
    assert.ok(resolved);
    assert.deepEqual(resolved.tls, { rejectUnauthorized: true });
    const before = entra.tokenRequests();
    assert.equal(failureOf(await provider().getToken(resolved)).reason, 'token_tls_untrusted');
    assert.equal(entra.tokenRequests(), before);
  });

  test('a missing secret env var → credential_missing at the config stage, no request', async () => {
    const before = entra.tokenRequests();
    const result = await provider({}).getToken(tenant());
    const failure = failureOf(result);
    assert.equal(failure.reason, 'credential_missing');
    assert.match(failure.message, /environment variable SECRET is not set/);
    assert.ok(!result.ok && result.failure.stage === 'config');
    assert.equal(entra.tokenRequests(), before);
  });
});
