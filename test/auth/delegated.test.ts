import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { cacheOwner, DelegatedTokenProvider, INACTIVITY_LAPSE_MS, type SignInLapse } from '../../src/auth/delegated.js';
import { readCache, readCacheKey } from '../../src/auth/token-cache.js';
import { loadConfigFile } from '../../src/config/load.js';
import type { ResolvedTenant } from '../../src/config/types.js';
import { signIn } from '../../src/cli/login.js';
import { diagnose } from '../../src/diagnose/diagnose.js';
import { monitorRef } from '../../src/diagnose/commands.js';
import { Redactor } from '../../src/log/redact.js';
import { createPki, type TestPki } from '../../src/sandbox/certs.js';
import { startEntra, type EntraServer } from '../../src/sandbox/entra.js';
import { SandboxModel } from '../../src/sandbox/model.js';
import type { Clock } from '../../src/core/clock.js';

// A delegated monitor against the Entra emulator: `mailprobe login` (device code), then refresh-token redemption
// with every rotated token written back to the encrypted cache, across restarts, replicas, and the three ways a
// sign-in ends.

const TENANT = '7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d';
const APP = '2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f';
const USER = 'probe@contoso.onmicrosoft.com';
const DAY = 86_400_000;

let pki: TestPki;
let model: SandboxModel;
let entra: EntraServer;
let now = Date.parse('2026-03-02T09:00:00Z');
const clock: Clock = { now: () => now, monotonic: () => performance.now() };

before(async () => {
  pki = await createPki();
  model = SandboxModel.fromSpec([{ tenantId: TENANT, apps: [{ clientId: APP, publicClient: true }] }], () => now);
  entra = await startEntra({ model, tls: pki.server });
});

after(() => entra?.close());

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { stream, text: () => text };
}

/** A folder with a monitors.json of one delegated monitor; the config as the loader resolves it. */
function bed(checks: string[] = ['imap', 'smtp']): { tenant: ResolvedTenant; dir: string; name: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-delegated-'));
  writeFileSync(join(dir, 'ca.pem'), pki.ca.cert);
  const file = join(dir, 'monitors.json');
  writeFileSync(
    file,
    JSON.stringify({
      tenants: {
        user: {
          tenantId: TENANT,
          clientId: APP,
          authorityHost: entra.authorityHost,
          credential: { type: 'delegated', account: USER },
          authorityTls: { caFile: 'ca.pem' },
        },
      },
      monitors: [{ name: 'probe-user', tenant: 'user', mailbox: USER, checks }],
    }),
  );
  const config = loadConfigFile(file);
  const tenant = config.monitors[0]?.tenant;
  assert.ok(tenant?.delegated);
  return { tenant, dir, name: 'probe-user' };
}

/** `mailprobe login`, with the person at the browser signing in as `as` once the code is shown. */
async function login(tenant: ResolvedTenant, as = USER): Promise<{ exit: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  let approved = false;
  const exit = await signIn(tenant, {
    io: { stdout: out.stream, stderr: err.stream, env: {}, cwd: '/' },
    clock,
    sleep: async (ms) => {
      now += ms;
      const code = /enter the code (\S+) to authenticate/.exec(err.text())?.[1];
      if (code && !approved) {
        model.delegation.approve(code, as);
        approved = true;
      }
    },
  });
  return { exit, out: out.text(), err: err.text() };
}

function provider(events: { lapses?: SignInLapse[] } = {}): DelegatedTokenProvider {
  return new DelegatedTokenProvider({ clock, env: {}, redact: (text) => text, events: { onSignIn: (_t, lapse) => events.lapses?.push(lapse) } });
}

function cached(tenant: ResolvedTenant) {
  const settings = tenant.delegated;
  assert.ok(settings);
  const read = readCache(settings.cacheFile, readCacheKey(settings.keyFile, {}), cacheOwner(tenant, settings));
  assert.ok(read.ok, JSON.stringify(read));
  return read.entry;
}

describe('delegated monitors', () => {
  test('the config asks for what the checks need; login prints the code, stores the sign-in encrypted (0600), and the agent signs in with it', async () => {
    const { tenant } = bed(['imap', 'roundtrip']);
    assert.deepEqual(tenant.delegated?.scopes, ['https://outlook.office.com/IMAP.AccessAsUser.All', 'https://outlook.office.com/SMTP.Send', 'offline_access']);
    const result = await login(tenant);
    assert.equal(result.exit, 0, result.err);
    assert.match(result.err, /open the page https:\/\/microsoft\.com\/devicelogin and enter the code/);
    assert.match(result.out, new RegExp(`signed in as ${USER}; kept encrypted in`));
    const settings = tenant.delegated;
    assert.ok(settings);
    assert.equal(statSync(settings.cacheFile).mode & 0o777, 0o600);
    assert.equal(statSync(settings.keyFile).mode & 0o777, 0o600);
    const first = cached(tenant);
    const file = readFileSync(settings.cacheFile, 'utf8');
    assert.ok(!file.includes(first.refreshToken.reveal()), 'the refresh token is not in the file in clear');
    assert.ok(!file.includes(USER), 'nor is the account');
    assert.ok(!result.out.includes(first.refreshToken.reveal()) && !result.err.includes(first.refreshToken.reveal()));

    now += 2 * 3600_000;
    const lapses: SignInLapse[] = [];
    const token = await provider({ lapses }).getToken(tenant);
    assert.equal(token.ok, true, JSON.stringify(token));
    if (token.ok) assert.equal(token.claims.aud, 'https://outlook.office.com');
    const second = cached(tenant);
    assert.notEqual(second.refreshToken.reveal(), first.refreshToken.reveal(), 'the rotated refresh token was written back');
    assert.equal(second.refreshedAt, now);
    assert.deepEqual(lapses.at(-1), {
      account: USER,
      signedInAt: first.signedInAt,
      refreshedAt: now,
      lapsesAt: now + INACTIVITY_LAPSE_MS,
      cause: 'inactivity',
    });

    // A restart is a new provider reading the same cache; 60 days on, 89 after the first token, it still works.
    now += 60 * DAY;
    assert.equal((await provider().getToken(tenant)).ok, true);
  });

  test('checks of one account at once, in two agents sharing the state folder, redeem once and keep the newest token', async () => {
    const { tenant } = bed();
    assert.equal((await login(tenant)).exit, 0);
    now += 2 * 3600_000;
    const before = entra.tokenRequests();
    const [a, b] = [provider(), provider()];
    const results = await Promise.all([a.getToken(tenant), b.getToken(tenant), a.getToken(tenant), b.getToken(tenant)]);
    assert.ok(results.every((result) => result.ok));
    // One redemption: the second agent finds the first one's access token in the cache inside the lock.
    assert.equal(entra.tokenRequests() - before, 1);
    now += 2 * 3600_000;
    const latest = await provider().getToken(tenant);
    assert.equal(latest.ok, true, 'the token kept is one Entra still honours');
  });

  test('90 days unused: AADSTS700082 is signin_lapsed_inactive, whose fix is to sign in again', async () => {
    const { tenant } = bed();
    assert.equal((await login(tenant)).exit, 0);
    now += 91 * DAY;
    const lapsed = await provider().getToken(tenant);
    assert.equal(lapsed.ok, false);
    if (lapsed.ok) return;
    assert.equal(lapsed.failure.reason, 'signin_lapsed_inactive');
    assert.match(lapsed.failure.serverText ?? '', /^AADSTS700082: The refresh token has expired due to inactivity\./);
    const config = loadConfigFile(join(tenant.baseDir, 'monitors.json'));
    const monitor = config.monitors[0];
    assert.ok(monitor);
    const diagnosis = diagnose({
      reason: lapsed.failure.reason,
      stage: 'token',
      now,
      monitor: monitorRef(monitor),
      serverText: lapsed.failure.serverText ?? '',
    });
    assert.ok(
      diagnosis.fixes.some((fix) => fix.includes('mailprobe login --monitor probe-user')),
      diagnosis.fixes.join('\n'),
    );

    // Signing in again renews it.
    assert.equal((await login(tenant)).exit, 0);
    assert.equal((await provider().getToken(tenant)).ok, true);
  });

  test('revocation (AADSTS50173) and a sign-in frequency (AADSTS70043, its limit learned for the next lapse)', async () => {
    const { tenant } = bed();
    assert.equal((await login(tenant)).exit, 0);
    model.delegation.revoke(USER, now);
    // The access token in hand stays good until it expires; the next redemption is refused.
    now += 2 * 3600_000;
    const revoked = await provider().getToken(tenant);
    assert.equal(revoked.ok ? 'ok' : revoked.failure.reason, 'signin_revoked');

    assert.equal((await login(tenant)).exit, 0);
    model.delegation.setSignInFrequency(USER, 12 * 3600);
    const signedIn = cached(tenant).signedInAt;
    now += 13 * 3600_000;
    const lapses: SignInLapse[] = [];
    const ended = await provider({ lapses }).getToken(tenant);
    assert.equal(ended.ok ? 'ok' : ended.failure.reason, 'signin_lapsed_frequency');
    assert.equal(cached(tenant).signInFrequencySeconds, 12 * 3600);
    // Told at once: the lapse came 12 h after the sign-in, by the frequency (metrics, /status/detail).
    assert.deepEqual([lapses.at(-1)?.cause, lapses.at(-1)?.lapsesAt], ['sign_in_frequency', signedIn + 12 * 3600_000]);
    assert.equal((await login(tenant)).exit, 0);
    const inspected = provider().inspect(tenant);
    assert.ok(inspected.ok);
    assert.deepEqual([inspected.lapse.cause, inspected.lapse.lapsesAt], ['sign_in_frequency', now + 12 * 3600_000]);
    model.delegation.setSignInFrequency(USER, null);
  });

  test('not signed in, a damaged cache, another key: signin_required with what and where, never a crash', async () => {
    const { tenant } = bed();
    const settings = tenant.delegated;
    assert.ok(settings);
    const none = await provider().getToken(tenant);
    assert.equal(none.ok ? 'ok' : none.failure.reason, 'signin_required');
    assert.match(none.ok ? '' : none.failure.message, /has not signed in yet/);

    assert.equal((await login(tenant)).exit, 0);
    const other = new DelegatedTokenProvider({ clock, env: { MAILPROBE_TOKEN_CACHE_KEY: Buffer.alloc(32, 7).toString('base64') }, redact: (text) => text });
    const wrongKey = await other.getToken(tenant);
    assert.equal(wrongKey.ok ? 'ok' : wrongKey.failure.reason, 'signin_required');
    assert.match(wrongKey.ok ? '' : wrongKey.failure.message, /does not open with the key from MAILPROBE_TOKEN_CACHE_KEY/);

    writeFileSync(settings.cacheFile, '{"format":"mailprobe-token-cache/1","iv":"AAAA"');
    const damaged = await provider().getToken(tenant);
    assert.equal(damaged.ok ? 'ok' : damaged.failure.reason, 'signin_required');
    assert.match(damaged.ok ? '' : damaged.failure.message, /is not a mailprobe token cache \(damaged or truncated\)/);
  });

  test('login as another account stores nothing and exits 1; the refresh token never reaches its output', async () => {
    const { tenant } = bed();
    const wrong = await login(tenant, 'someone.else@contoso.onmicrosoft.com');
    assert.equal(wrong.exit, 1);
    assert.match(wrong.err, /signed in as someone\.else@contoso\.onmicrosoft\.com, but the monitor's account is probe@/);
    const none = await provider().getToken(tenant);
    assert.equal(none.ok ? 'ok' : none.failure.reason, 'signin_required');
  });

  test('the redactor masks an Entra-shaped refresh token wherever it appears', () => {
    const redactor = new Redactor();
    const text = `saw 1.${'a'.repeat(8)}-1111-2222-3333-${'b'.repeat(12)}.${'Zx9_'.repeat(20)} and 0.AXEA${'q'.repeat(80)}`;
    assert.equal(redactor.redact(text), 'saw [redacted] and [redacted]');
  });
});
