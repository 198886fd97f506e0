import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chooseExpiry, fetchAppCredentials, ownCredential, type GraphCredential } from '../../src/auth/graph-credentials.js';
import { MsalTokenProvider } from '../../src/auth/token-provider.js';
import type { ResolvedTenant } from '../../src/config/types.js';
import { systemClock } from '../../src/core/clock.js';
import { Redactor } from '../../src/log/redact.js';
import { createPki, type TestPki } from '../../src/sandbox/certs.js';
import { startEntra, type EntraServer } from '../../src/sandbox/entra.js';
import { SandboxModel } from '../../src/sandbox/model.js';

const TENANT = '0f1e2d3c-4b5a-4697-8877-665544332211';
const CLIENT = '3a4b5c6d-7e8f-4a0b-9c1d-2e3f4a5b6c7d';
const DAY = 86_400_000;

let pki: TestPki;
let model: SandboxModel;
let entra: EntraServer;

function tenant(): ResolvedTenant {
  return {
    key: 'graph',
    tenantId: TENANT,
    clientId: CLIENT,
    cloud: 'global',
    credential: { type: 'secret', secret: { env: 'SECRET' } },
    authorityHost: entra.authorityHost,
    scope: 'https://outlook.office.com/.default',
    baseDir: '.',
    tls: { ca: [pki.ca.cert], rejectUnauthorized: true },
  };
}

before(async () => {
  pki = await createPki();
  const now = Date.now();
  model = SandboxModel.fromSpec([
    {
      tenantId: TENANT,
      apps: [
        {
          clientId: CLIENT,
          secrets: [
            { value: 'abc-current-secret', expiresAt: new Date(now + 20 * DAY).toISOString() },
            { value: 'xyz-newer-secret', expiresAt: new Date(now + 400 * DAY).toISOString() },
          ],
        },
      ],
    },
  ]);
  entra = await startEntra({ model, tls: pki.server });
});

after(() => entra.close());

describe('credential expiry from Microsoft Graph', () => {
  test('reads the app’s secrets and picks the one mailprobe uses by its hint', async () => {
    const env = { SECRET: 'abc-current-secret' };
    const tokens = new MsalTokenProvider({
      clock: systemClock,
      env,
      redact: (text) => new Redactor().redact(text),
      events: { onRequest: () => undefined, onToken: () => undefined },
    });
    const result = await fetchAppCredentials(tokens, tenant(), { graphResource: 'https://graph.microsoft.com', graphBaseUrl: entra.url });
    assert.equal(result.ok, true, JSON.stringify(result));
    if (!result.ok) return;
    assert.equal(result.credentials.filter((c) => c.type === 'client_secret').length, 2);
    const expiry = chooseExpiry(result.credentials, ownCredential(tenant(), env), Date.now());
    assert.equal(expiry?.type, 'client_secret');
    const days = ((expiry?.expiresAt ?? 0) - Date.now()) / DAY;
    assert.ok(days > 19 && days < 21, `expected the 20-day secret, got ${days}`);
    assert.ok(!JSON.stringify(result).includes('abc-current-secret'), 'no secret value in the answer');
  });

  test('without Application.Read.All the listing is refused with role_missing', async () => {
    model.setRoles(TENANT, CLIENT, [], 'graph');
    try {
      const tokens = new MsalTokenProvider({
        clock: systemClock,
        env: { SECRET: 'abc-current-secret' },
        redact: (text) => new Redactor().redact(text),
        events: { onRequest: () => undefined, onToken: () => undefined },
      });
      const result = await fetchAppCredentials(tokens, tenant(), { graphResource: 'https://graph.microsoft.com', graphBaseUrl: entra.url });
      assert.equal(result.ok, false);
      if (!result.ok) assert.equal(result.failure.reason, 'role_missing');
    } finally {
      model.setRoles(TENANT, CLIENT, ['Application.Read.All'], 'graph');
    }
  });

  test('choosing: a match wins, else the earliest still valid, else the latest expired', () => {
    const now = 1_000_000;
    const list: GraphCredential[] = [
      { type: 'client_secret', keyId: 'a', expiresAt: now - 10, hint: 'old' },
      { type: 'client_secret', keyId: 'b', expiresAt: now + 50, hint: 'mid' },
      { type: 'client_secret', keyId: 'c', expiresAt: now + 90, hint: 'new' },
      { type: 'certificate', keyId: 'd', expiresAt: now + 70, thumbprint: 'AB' },
    ];
    assert.equal(chooseExpiry(list, { type: 'client_secret', hint: 'new' }, now)?.expiresAt, now + 90);
    assert.equal(chooseExpiry(list, { type: 'client_secret', hint: '???' }, now)?.expiresAt, now + 50);
    assert.equal(chooseExpiry(list.slice(0, 1), { type: 'client_secret' }, now)?.expiresAt, now - 10);
    assert.equal(chooseExpiry(list, { type: 'certificate', thumbprint: 'AB' }, now)?.expiresAt, now + 70);
    assert.equal(chooseExpiry([], { type: 'certificate' }, now), undefined);
  });
});
