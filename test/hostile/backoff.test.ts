import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MsalTokenProvider } from '../../src/auth/token-provider.js';
import { parseConfig } from '../../src/config/load.js';
import type { ResolvedMonitor, ResolvedTenant } from '../../src/config/types.js';
import { Secret } from '../../src/core/secret.js';
import { MailprobeMetrics } from '../../src/metrics/metrics.js';
import { probeIdKeyrings } from '../../src/probes/probe-mail.js';
import { runCheck, SERVER_BACKOFF_INTERVALS, type CheckDeps } from '../../src/runner/run-check.js';
import { SendBudget } from '../../src/runner/send-budget.js';
import { statusOf } from '../../src/core/status.js';
import { folding } from '../support/fold.js';
import { createPki, type TestPki } from '../../src/sandbox/certs.js';
import { startEntra, type EntraServer } from '../../src/sandbox/entra.js';
import { defaultSecretValue, SandboxModel } from '../../src/sandbox/model.js';
import { FakeClock } from '../alerting/support.js';

// Issue 25 row 3: one Retry-After: 99999999 (login service) or Exchange "Suggested Backoff Time" silenced a check
// until restart, and /api/status kept showing its first failure.

const TENANT = '0f1e2d3c-4b5a-4697-8877-665544332211';
const CLIENT = '3a4b5c6d-7e8f-4a0b-9c1d-2e3f4a5b6c7d';
const SECRET = defaultSecretValue(CLIENT);

function monitor(intervalSeconds: number): ResolvedMonitor {
  const config = {
    tenants: { t: { tenantId: TENANT, clientId: CLIENT, credential: { type: 'secret', secret: 'x' } } },
    monitors: [{ name: 'm', tenant: 't', mailbox: 'probe@contoso.com', checks: ['imap'], schedule: `*/${intervalSeconds} * * * * *` }],
  };
  const [found] = parseConfig(JSON.stringify(config), '/nonexistent/monitors.json').monitors;
  assert.ok(found);
  assert.equal(found.intervalSeconds, intervalSeconds);
  return found;
}

describe('a server asking for a long backoff', () => {
  let pki: TestPki;
  let entra: EntraServer;
  before(async () => {
    pki = await createPki();
    const model = SandboxModel.fromSpec([{ tenantId: TENANT, apps: [{ clientId: CLIENT, secrets: [{ value: SECRET }] }] }]);
    model.faults.tokenThrottleSeconds = 99_999_999;
    entra = await startEntra({ model, tls: pki.server });
  });
  after(async () => entra.close());

  test("login service Retry-After: 99999999 is honoured for three of the caller's intervals, then asked again", async () => {
    const clock = new FakeClock();
    const tokens = new MsalTokenProvider({ clock, env: { SECRET }, redact: (text) => text, events: { onRequest: () => undefined, onToken: () => undefined } });
    const tenant: ResolvedTenant = {
      key: 't',
      tenantId: TENANT,
      clientId: CLIENT,
      cloud: 'global',
      credential: { type: 'secret', secret: { env: 'SECRET' } },
      authorityHost: entra.authorityHost,
      scope: 'https://outlook.office.com/.default',
      baseDir: '/nonexistent',
      tls: { ca: [pki.ca.cert], rejectUnauthorized: true },
    };
    const maxWaitMs = SERVER_BACKOFF_INTERVALS * 5_000;
    const first = await tokens.getToken(tenant, undefined, { maxWaitMs });
    assert.equal(first.ok, false);
    assert.equal(entra.tokenRequests(), 1);
    clock.time += 5_000;
    const waiting = await tokens.getToken(tenant, undefined, { maxWaitMs });
    assert.ok(!waiting.ok && waiting.retryAfterSeconds === 10, 'the wait left is counted from the answer, within the cap');
    assert.equal(entra.tokenRequests(), 1, 'no request while the capped wait lasts');
    clock.time += 10_001;
    const again = await tokens.getToken(tenant, undefined, { maxWaitMs });
    assert.ok(!again.ok && again.failure.reason === 'throttled', "the answer is the login service's, not msal's own cached refusal");
    assert.equal(entra.tokenRequests(), 2, 'asked again within a minute on a 5-second schedule');
  });

  test('Exchange\'s "Suggested Backoff Time" is capped at three intervals, shown in /api/status and as a metric', async () => {
    const now = Date.UTC(2030, 0, 7);
    const clock = { now: () => now, monotonic: () => 0 };
    const claims = { aud: 'https://outlook.office365.com', tid: TENANT, roles: ['IMAP.AccessAsApp'], exp: now / 1000 + 3600 };
    const deps: CheckDeps = {
      tokens: { getToken: async () => ({ ok: true, token: new Secret('token'), claims, expiresAt: now + 3_600_000 }) },
      clock,
      probes: {
        imap: async () => ({
          ok: false,
          steps: [],
          measured: {},
          facts: {},
          failure: {
            stage: 'auth',
            protocol: 'imap',
            reason: 'throttled',
            serverText: 'NO Request is throttled. Suggested Backoff Time: 99999999 milliseconds',
            message: 'throttled',
          },
        }),
      },
      probeIds: probeIdKeyrings(),
      sendBudget: new SendBudget(clock),
      redact: (text) => text,
    };
    const result = await runCheck(deps, monitor(5), 'imap');
    assert.equal(result.retryAfterSeconds, 15);
    const event = folding()(result);
    const status = statusOf(event);
    assert.equal(status.backingOffUntil, new Date(now + 15_000).toISOString());
    const metrics = new MailprobeMetrics({ version: '0', collectDefault: false });
    metrics.recordCheck(event, 5);
    let text = '';
    for await (const chunk of metrics.exposition()) text += chunk.toString();
    assert.match(text, new RegExp(`mailprobe_check_backoff_until_timestamp_seconds\\{monitor="m",check="imap"\\} ${(now + 15_000) / 1000}\\n`));
  });
});
