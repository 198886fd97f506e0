import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readFederatedToken } from '../../src/auth/federated.js';
import { credentialExpiry, MsalTokenProvider, type CredentialExpiry } from '../../src/auth/token-provider.js';
import type { ResolvedTenant } from '../../src/config/types.js';
import { systemClock } from '../../src/core/clock.js';
import { Redactor } from '../../src/log/redact.js';
import { createPki, type TestPki } from '../../src/sandbox/certs.js';
import { startEntra, type EntraServer } from '../../src/sandbox/entra.js';
import { SandboxModel } from '../../src/sandbox/model.js';

// The federated credential at the token provider: the token file is read for every token request, so the
// kubelet's rotation is followed by the same provider (no restart), and each assertion's own expiry is reported.

const TENANT = '5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b';
const CLIENT = '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e';
const ISSUER = 'https://oidc.cluster.example/';
const SUBJECT = 'system:serviceaccount:monitoring:mailprobe';

let pki: TestPki;
let model: SandboxModel;
let entra: EntraServer;
let dir: string;
let now = Date.now();

before(async () => {
  pki = await createPki();
  dir = mkdtempSync(join(tmpdir(), 'mailprobe-federated-'));
  model = SandboxModel.fromSpec(
    [{ tenantId: TENANT, apps: [{ clientId: CLIENT, secrets: [], federatedCredentials: [{ issuer: ISSUER, subject: SUBJECT }] }] }],
    () => now,
  );
  // Shorter than msal's five-minute renewal offset: every getToken goes to the emulator, as an hour later would.
  model.tokenLifetimeSeconds = 60;
  entra = await startEntra({ model, tls: pki.server });
});

after(() => entra?.close());

function tenant(): ResolvedTenant {
  return {
    key: 'wi',
    tenantId: TENANT,
    clientId: CLIENT,
    cloud: 'global',
    credential: { type: 'federated' },
    authorityHost: entra.authorityHost,
    scope: 'https://outlook.office.com/.default',
    baseDir: dir,
    tls: { ca: [pki.ca.cert], rejectUnauthorized: true },
  };
}

/** Written as the kubelet does: a new file renamed over the old one. */
function project(lifetimeSeconds: number): { token: string; exp: number } {
  const token = model.issueExternalToken({ issuer: ISSUER, subject: SUBJECT, audience: ['api://AzureADTokenExchange'], lifetimeSeconds });
  writeFileSync(join(dir, 'token.next'), token);
  renameSync(join(dir, 'token.next'), join(dir, 'token'));
  return { token, exp: Math.floor(now / 1000) + lifetimeSeconds };
}

describe('federated credential (workload identity)', () => {
  test('follows a rotated token file without a restart, and reports each token’s own expiry', async () => {
    const env = { AZURE_FEDERATED_TOKEN_FILE: join(dir, 'token') };
    const expiries: CredentialExpiry[] = [];
    const redactor = new Redactor();
    const tokens = new MsalTokenProvider({
      clock: systemClock,
      env,
      redact: (text) => redactor.redact(text),
      events: { onRequest: () => undefined, onToken: () => undefined, onAssertion: (_t, expiry) => expiries.push(expiry) },
    });
    const t = tenant();

    const first = project(600);
    const ok = await tokens.getToken(t);
    assert.equal(ok.ok, true, JSON.stringify(ok));
    assert.deepEqual(expiries.at(-1), { type: 'federated_token', expiresAt: first.exp * 1000 });
    assert.equal(credentialExpiry(t, env)?.expiresAt, first.exp * 1000);

    // Ten minutes on, the kubelet has not rotated: Entra refuses the stale assertion.
    now += 700_000;
    const stale = await tokens.getToken(t);
    assert.equal(stale.ok, false);
    if (stale.ok) return;
    assert.equal(stale.failure.reason, 'token_assertion_expired');
    assert.match(
      stale.failure.serverText ?? '',
      /^AADSTS700024: Client assertion is not within its valid time range\. Current time: \d{4}-\d\d-\d\dT[\d:.]{16}Z, assertion valid from /,
    );
    assert.ok(!(stale.failure.serverText ?? '').includes(first.token));

    const second = project(3600);
    const renewed = await tokens.getToken(t);
    assert.equal(renewed.ok, true, JSON.stringify(renewed));
    assert.deepEqual(expiries.at(-1), { type: 'federated_token', expiresAt: second.exp * 1000 });
    if (renewed.ok) assert.equal(renewed.claims.appidacr, '2');
  });

  test('an unreadable token file is a configuration failure naming the file, and no request is sent', async () => {
    const tokens = new MsalTokenProvider({
      clock: systemClock,
      env: {},
      redact: (text) => text,
      events: { onRequest: () => undefined, onToken: () => undefined },
    });
    const before = entra.tokenRequests();
    const missing = await tokens.getToken({ ...tenant(), key: 'wi-missing', credential: { type: 'federated', tokenFile: 'nowhere/token' } });
    assert.equal(missing.ok, false);
    if (missing.ok) return;
    assert.equal(missing.failure.stage, 'config');
    assert.equal(missing.failure.reason, 'credential_missing');
    assert.match(missing.failure.message, /federated token of tenant "wi-missing": cannot read token file .*nowhere\/token: ENOENT/);
    assert.equal(entra.tokenRequests(), before);
  });

  test('the token file is bounded and must hold a JWT; its text is never quoted', () => {
    writeFileSync(join(dir, 'big'), 'x'.repeat(70_000));
    writeFileSync(join(dir, 'notjwt'), 'hunter2-secret-value');
    const big = readFederatedToken({ type: 'federated', tokenFile: 'big' }, dir, {});
    const notJwt = readFederatedToken({ type: 'federated', tokenFile: 'notjwt' }, dir, {});
    assert.equal(big.ok, false);
    assert.equal(notJwt.ok, false);
    if (big.ok || notJwt.ok) return;
    assert.match(big.message, /larger than 65536 bytes/);
    assert.match(notJwt.message, /does not hold a JWT/);
    assert.ok(!notJwt.message.includes('hunter2'));
  });
});
