import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import type { ResolvedMonitor } from '../../src/config/types.js';
import type { ProbeOutcome } from '../../src/core/outcome.js';
import { Secret } from '../../src/core/secret.js';
import { probeIdKeyrings } from '../../src/probes/probe-mail.js';
import type { ProbeContext } from '../../src/probes/types.js';
import type { CheckResult } from '../../src/core/result.js';
import type { TokenClaims } from '../../src/diagnose/claims.js';
import { runCheck, type CheckDeps } from '../../src/runner/run-check.js';
import { scopeFor } from '../../src/auth/token-provider.js';
import { CHECK } from '../../src/core/checks.js';
import { SendBudget } from '../../src/runner/send-budget.js';

// The runner owns the deadline: whatever a probe does, its result is there by the deadline plus the half second
// in which an aborted probe may still say where it stopped. Timers are mocked, so nothing here waits or depends
// on how busy the machine is.

const TENANT_ID = '9b62d4ed-1234-1234-b00d-341a1bd0b3f5';
const NOW = Date.UTC(2030, 0, 7);

function monitor(): ResolvedMonitor {
  const config = {
    tenants: { t: { tenantId: TENANT_ID, clientId: '10e1f456-3921-1234-1234-105af0774c61', credential: { type: 'secret', secret: 'x' } } },
    monitors: [{ name: 'm', tenant: 't', mailbox: 'probe@contoso.com', checks: ['imap'], timeoutSeconds: 8 }],
  };
  const [found] = parseConfig(JSON.stringify(config), '/nonexistent/monitors.json').monitors;
  assert.ok(found);
  return found;
}

function deps(imap: (context: ProbeContext) => Promise<ProbeOutcome>, claimed: Partial<TokenClaims> = {}): CheckDeps {
  const clock = { now: () => NOW, monotonic: () => performance.now() };
  const claims = { aud: 'https://outlook.office365.com', tid: TENANT_ID, roles: ['IMAP.AccessAsApp'], exp: NOW / 1000 + 3600, ...claimed };
  return {
    tokens: { getToken: async () => ({ ok: true, token: new Secret('token'), claims, expiresAt: NOW + 3_600_000 }) },
    clock,
    probes: { imap },
    probeIds: probeIdKeyrings(),
    sendBudget: new SendBudget(clock),
    redact: (text) => text,
  };
}

/** Lets promise callbacks run; setImmediate is not mocked. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('the check deadline', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  test('a probe that ignores the abort is given up on at the deadline plus the grace, with a timeout', async () => {
    let aborted = false;
    const hanging = (context: ProbeContext) =>
      new Promise<ProbeOutcome>(() => {
        context.signal.addEventListener('abort', () => (aborted = true));
      });
    const got: { result?: CheckResult } = {};
    void runCheck(deps(hanging), monitor(), 'imap').then((done) => (got.result = done));
    await settle();
    mock.timers.tick(8000 - 1);
    await settle();
    assert.equal(aborted, false, 'not before the deadline');
    mock.timers.tick(1);
    await settle();
    assert.equal(aborted, true, 'the probe is told at the deadline');
    mock.timers.tick(499);
    await settle();
    const pending = (): boolean => got.result === undefined;
    assert.ok(pending(), 'the grace is not cut short');
    mock.timers.tick(1);
    await settle();
    assert.equal(got.result?.outcome.failure?.reason, 'timeout');
    assert.match(got.result?.outcome.failure?.message ?? '', /did not finish within 8 s/);
  });

  test('an aborted probe that answers within the grace keeps its own stage and words', async () => {
    const answering = (context: ProbeContext) =>
      new Promise<ProbeOutcome>((resolve) => {
        context.signal.addEventListener('abort', () =>
          resolve({
            ok: false,
            steps: [{ step: 'connect', seconds: 0.01 }],
            measured: {},
            facts: {},
            failure: { stage: 'auth', reason: 'timeout', message: 'no answer to AUTHENTICATE', serverText: '+ ' },
          }),
        );
      });
    const got: { result?: CheckResult } = {};
    void runCheck(deps(answering), monitor(), 'imap').then((done) => (got.result = done));
    await settle();
    mock.timers.tick(8000);
    await settle();
    assert.equal(got.result?.outcome.failure?.stage, 'auth');
    assert.equal(got.result?.outcome.failure?.message, 'no answer to AUTHENTICATE');
  });
});

// The token is evidence, not a gate (issue 21): Exchange can grant what the token does not show.
describe('what the token shows', () => {
  const passing = async (): Promise<ProbeOutcome> => ({ ok: true, steps: [{ step: 'auth', seconds: 0.01 }], measured: {}, facts: {} });
  const refusing = async (): Promise<ProbeOutcome> => ({
    ok: false,
    steps: [],
    measured: {},
    facts: {},
    failure: { stage: 'auth', protocol: 'imap', reason: 'auth_failed', serverText: 'A1 NO AUTHENTICATE failed.', message: 'rejected' },
  });

  test('a token without the role still reaches the server, and a pass says Exchange granted it', async () => {
    let contacted = false;
    const result = await runCheck(
      deps(async () => ((contacted = true), passing()), { roles: [] }),
      monitor(),
      'imap',
    );
    assert.equal(contacted, true);
    assert.equal(result.outcome.ok, true);
    assert.deepEqual(result.authorisation, { entraRoles: [], exchangeGranted: ['IMAP.AccessAsApp'] });
  });

  test('a pass with the role says the Entra role authorised it', async () => {
    const result = await runCheck(deps(passing), monitor(), 'imap');
    assert.deepEqual(result.authorisation, { entraRoles: ['IMAP.AccessAsApp'], exchangeGranted: [] });
  });

  test('a refusal without the role is diagnosed as the missing role first, with consent and FullAccess', async () => {
    const result = await runCheck(deps(refusing, { roles: ['SMTP.SendAsApp'] }), monitor(), 'imap');
    assert.equal(result.outcome.failure?.reason, 'auth_failed');
    assert.equal(result.diagnosis?.reason, 'role_missing');
    assert.match(result.diagnosis?.summary ?? '', /^IMAP refused probe@contoso\.com: the token lacks IMAP\.AccessAsApp .*admin consent for it is missing/);
    assert.ok(result.diagnosis?.fixes.some((fix) => fix.includes('adminconsent?client_id=10e1f456-3921-1234-1234-105af0774c61')));
    assert.ok(result.diagnosis?.fixes.some((fix) => fix.startsWith('Add-MailboxPermission -Identity probe@contoso.com')));
    assert.ok(result.diagnosis?.fixes.some((fix) => /up to an hour/.test(fix)));
    assert.equal(result.authorisation, undefined);
  });

  test('the token is asked for the resource the check descriptor names, in the tenant’s cloud', async () => {
    const asked: Array<string | undefined> = [];
    const base = deps(passing);
    const recording: CheckDeps = {
      ...base,
      tokens: { getToken: (tenant, scope, options) => (asked.push(scope), base.tokens.getToken(tenant, scope, options)) },
    };
    const m = monitor();
    const result = await runCheck(recording, m, 'imap');
    assert.equal(result.outcome.ok, true);
    assert.equal(CHECK.imap.resource, 'exchange');
    assert.deepEqual(asked, [scopeFor(m.tenant, CHECK.imap.resource)]);
    assert.deepEqual(asked, ['https://outlook.office.com/.default']);
    const ownScope = { ...m, tenant: { ...m.tenant, scope: 'https://ps.outlook.com/.default' } };
    await runCheck(recording, ownScope, 'imap');
    assert.equal(asked[1], 'https://ps.outlook.com/.default', 'a tenant’s own Exchange scope is the one asked');
  });

  test('onToken tells the claims once issued, undefined when the login service refused, and nothing when never asked', async () => {
    const told: Array<TokenClaims | undefined> = [];
    const onToken = (claims: TokenClaims | undefined) => told.push(claims);
    await runCheck(deps(passing), monitor(), 'imap', { onToken });
    assert.equal(told.length, 1);
    assert.equal(told[0]?.tid, TENANT_ID);
    const refused: CheckDeps = {
      ...deps(passing),
      tokens: { getToken: async () => ({ ok: false, failure: { stage: 'token', reason: 'token_invalid_client_secret', message: 'refused' } }) },
    };
    const result = await runCheck(refused, monitor(), 'imap', { onToken });
    assert.deepEqual(told.slice(1), [undefined]);
    assert.equal(result.diagnosis?.reason, 'token_invalid_client_secret');
    const noProbe: CheckDeps = { ...deps(passing), probes: {} };
    await runCheck(noProbe, monitor(), 'imap', { onToken });
    assert.equal(told.length, 2, 'a check that stops before asking tells nothing');
  });

  for (const [name, claimed, reason] of [
    ['another resource', { aud: 'https://graph.microsoft.com' }, 'token_wrong_audience'],
    ['another tenant', { tid: '00000000-1234-1234-1234-000000000000' }, 'token_wrong_tenant'],
    ['an expired token', { exp: NOW / 1000 - 3600 }, 'token_expired'],
  ] as const) {
    test(`${name} stops the check before the server`, async () => {
      let contacted = false;
      const result = await runCheck(
        deps(async () => ((contacted = true), passing()), { ...claimed, roles: [] }),
        monitor(),
        'imap',
      );
      assert.equal(contacted, false);
      assert.equal(result.outcome.failure?.stage, 'role');
      assert.equal(result.diagnosis?.reason, reason);
    });
  }
});
