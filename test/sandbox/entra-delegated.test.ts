import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decideDeviceCode, decideTokenRequest, type HttpAnswer } from '../../src/sandbox/entra.js';
import { SandboxModel } from '../../src/sandbox/model.js';

// The Entra emulator's delegated grants: device code, then refresh tokens that rotate, and the three ways a
// sign-in ends with Entra's own texts (docs/exchange-online-errors.md §10, "Delegated").

const TENANT = '3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f';
const APP = '6f7a8b9c-0d1e-4f2a-8b3c-4d5e6f7a8b9c';
const USER = 'probe@contoso.onmicrosoft.com';
const SCOPE = 'https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access';
const DAY = 86_400_000;

function bed(publicClient = true) {
  let now = Date.parse('2026-01-05T10:00:00Z');
  const model = SandboxModel.fromSpec([{ tenantId: TENANT, apps: [{ clientId: APP, publicClient }] }], () => now);
  const token = (form: Record<string, string>): HttpAnswer =>
    decideTokenRequest(model, TENANT, new URLSearchParams({ client_id: APP, ...form }), '00000000-0000-4000-8000-000000000000');
  return { model, token, advance: (ms: number) => (now += ms) };
}

function body(answer: HttpAnswer): Record<string, unknown> {
  return JSON.parse(answer.body) as Record<string, unknown>;
}

function signIn(b: ReturnType<typeof bed>): string {
  const started = body(decideDeviceCode(b.model, TENANT, new URLSearchParams({ client_id: APP, scope: SCOPE }), 'c'));
  b.model.delegation.approve(String(started['user_code']), USER);
  const done = b.token({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: String(started['device_code']) });
  assert.equal(done.status, 200, done.body);
  return String(body(done)['refresh_token']);
}

describe('Entra emulator: delegated grants', () => {
  test('device code: the code and URL to show, pending until the person signs in, then a user token and a refresh token', () => {
    const b = bed();
    const started = decideDeviceCode(b.model, TENANT, new URLSearchParams({ client_id: APP, scope: SCOPE }), 'c');
    const code = body(started);
    assert.equal(code['verification_uri'], 'https://microsoft.com/devicelogin');
    assert.equal(code['interval'], 5);
    assert.match(String(code['message']), new RegExp(`enter the code ${String(code['user_code'])} to authenticate`));
    const pending = b.token({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: String(code['device_code']) });
    assert.equal(pending.status, 400);
    assert.equal(body(pending)['error'], 'authorization_pending');
    b.model.delegation.approve(String(code['user_code']), USER);
    const done = body(b.token({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: String(code['device_code']) }));
    assert.equal(done['scope'], 'https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send');
    assert.ok(typeof done['refresh_token'] === 'string');
    const claims = JSON.parse(Buffer.from(String(done['access_token']).split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    assert.deepEqual(
      [claims['idtyp'], claims['upn'], claims['scp'], claims['aud']],
      ['user', USER, 'IMAP.AccessAsUser.All SMTP.Send', 'https://outlook.office.com'],
    );
    const again = b.token({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: String(code['device_code']) });
    assert.equal(body(again)['error'], 'expired_token', 'a device code is redeemed once');
  });

  test('an app without public client flows cannot redeem without a credential', () => {
    const b = bed(false);
    const answer = b.token({ grant_type: 'refresh_token', refresh_token: 'x' });
    assert.equal(answer.status, 401);
    assert.deepEqual(body(answer)['error_codes'], [7000218]);
  });

  test('each redemption rotates the refresh token; the one not saved lapses after 90 days unused (AADSTS700082)', () => {
    const b = bed();
    const first = signIn(b);
    b.advance(30 * DAY);
    const second = String(body(b.token({ grant_type: 'refresh_token', refresh_token: first, scope: SCOPE }))['refresh_token']);
    assert.notEqual(second, first);
    b.advance(61 * DAY);
    const stale = b.token({ grant_type: 'refresh_token', refresh_token: first, scope: SCOPE });
    assert.equal(body(stale)['error'], 'invalid_grant');
    assert.match(
      String(body(stale)['error_description']),
      /^AADSTS700082: The refresh token has expired due to inactivity\. The token was issued on 2026-01-05T10:00:00Z and was inactive for 90\.00:00:00\./,
    );
    assert.equal(b.token({ grant_type: 'refresh_token', refresh_token: second, scope: SCOPE }).status, 200, 'the saved one still works');
  });

  test('a sign-in frequency ends the grant with its limit in seconds (AADSTS70043); revocation with AADSTS50173', () => {
    const b = bed();
    const token = signIn(b);
    b.model.delegation.setSignInFrequency(USER, 86_400);
    b.advance(DAY + 1000);
    const lapsed = body(b.token({ grant_type: 'refresh_token', refresh_token: token, scope: SCOPE }));
    assert.deepEqual(lapsed['error_codes'], [70043]);
    assert.match(
      String(lapsed['error_description']),
      /sign-in frequency checks by conditional access\. The token was issued on 2026-01-05T10:00:00Z and the maximum allowed lifetime for this request is 86400\./,
    );

    const c = bed();
    const fresh = signIn(c);
    c.model.delegation.revoke(USER, Date.parse('2026-01-05T10:00:00Z'));
    const revoked = body(c.token({ grant_type: 'refresh_token', refresh_token: fresh, scope: SCOPE }));
    assert.deepEqual(revoked['error_codes'], [50173]);
    assert.match(String(revoked['error_description']), /^AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth token is needed\./);
  });
});

describe('Exchange emulator: a delegated token', () => {
  test('opens the person’s own mailbox for the protocols in its scope, and nothing else', () => {
    const b = bed();
    const started = body(decideDeviceCode(b.model, TENANT, new URLSearchParams({ client_id: APP, scope: SCOPE }), 'c'));
    b.model.delegation.approve(String(started['user_code']), USER);
    const access = String(
      body(b.token({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: String(started['device_code']) }))['access_token'],
    );
    assert.deepEqual(b.model.authorizeMailLogin(USER, access, 'imap'), { ok: true, tenantId: TENANT, appId: APP });
    assert.equal(b.model.authorizeMailLogin(USER, access, 'smtp').ok, true);
    assert.deepEqual(b.model.authorizeMailLogin(USER, access, 'pop3'), { ok: false, why: 'role_missing' }, 'POP.AccessAsUser.All was not asked for');
    b.model.setProtocol(TENANT, USER, 'imap', false);
    assert.deepEqual(b.model.authorizeMailLogin(USER, access, 'imap'), { ok: false, why: 'protocol_disabled' });
    b.advance(2 * 3600_000);
    assert.deepEqual(b.model.authorizeMailLogin(USER, access, 'smtp'), { ok: false, why: 'token_expired' });
  });
});
