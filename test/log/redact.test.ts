import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Secret } from '../../src/core/secret.js';
import { Redactor } from '../../src/log/redact.js';

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const JWT = `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url({ aud: 'https://outlook.office365.com', roles: ['IMAP.AccessAsApp'] })}.c2lnbmF0dXJlLWJ5dGVz`;
const XOAUTH2 = Buffer.from(`user=probe@contoso.com\x01auth=Bearer ${JWT}\x01\x01`).toString('base64');
const CLIENT_SECRET = 'Qx8~Zq.abcDEF123_ghiJKL456-mnoPQR789';
const PEM = ['-----BEGIN PRIVATE KEY-----', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC', 'BKcwggSjAgEAAoIBAQC7', '-----END PRIVATE KEY-----'].join('\n');

describe('Redactor.redact', () => {
  const redactor = new Redactor();
  redactor.addSecret(CLIENT_SECRET);

  const cases: Array<[string, string, string]> = [
    ['registered secret', `secret is ${CLIENT_SECRET}.`, 'secret is [redacted].'],
    ['JWT', `token ${JWT} rejected`, 'token [redacted] rejected'],
    ['XOAUTH2 base64', `C: A1 AUTHENTICATE XOAUTH2 ${XOAUTH2}`, 'C: A1 AUTHENTICATE XOAUTH2 [redacted]'],
    ['decoded XOAUTH2', 'user=a@b.c\x01auth=Bearer abc.def\x01\x01', 'user=a@b.c\x01auth=Bearer [redacted]\x01\x01'],
    ['auth=Bearer', 'auth=Bearer x', 'auth=Bearer [redacted]'],
    ['Authorization header', 'Authorization: Bearer abc123+/=', 'Authorization: Bearer [redacted]'],
    ['form field', 'grant_type=client_credentials&client_secret=s3cr3t&scope=x', 'grant_type=client_credentials&client_secret=[redacted]&scope=x'],
    ['assertion field', 'client_assertion=abc&x=1', 'client_assertion=[redacted]&x=1'],
    [
      'JSON access_token',
      '{"token_type":"Bearer","access_token":"opaque\\"value","expires_in":3599}',
      '{"token_type":"Bearer","access_token":"[redacted]","expires_in":3599}',
    ],
    ['PEM block', `key:\n${PEM}\ndone`, 'key:\n[redacted]\ndone'],
    ['plain text untouched', 'IMAP login failed: AUTHENTICATE failed.', 'IMAP login failed: AUTHENTICATE failed.'],
  ];
  for (const [name, input, expected] of cases) {
    test(name, () => assert.equal(redactor.redact(input), expected));
  }

  test('is idempotent', () => {
    const once = redactor.redact(`auth=Bearer ${JWT} client_secret=${CLIENT_SECRET} ${XOAUTH2}`);
    assert.equal(redactor.redact(once), once);
  });

  test('masks a longer secret whole when a shorter one is inside it', () => {
    const r = new Redactor();
    r.addSecret('abcd');
    r.addSecret('xxabcdyy');
    assert.equal(r.redact('v=xxabcdyy'), 'v=[redacted]');
  });
});

describe('Redactor.redactDeep', () => {
  const redactor = new Redactor();
  redactor.addSecret(CLIENT_SECRET);

  test('walks objects, arrays, Errors and Secrets', () => {
    const error = Object.assign(new Error(`login failed with ${XOAUTH2}`), { code: 'EAUTH', response: `535 ${JWT}` });
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic['self'] = cyclic;
    const shared = { note: 'shared' };
    const input = {
      list: [`x ${CLIENT_SECRET}`, { deep: { token: new Secret('plain-token-value') } }],
      error,
      access_token: 'opaque-token',
      clientSecret: 'whatever',
      cyclic,
      a: shared,
      b: shared,
      count: 3,
    };
    const out = redactor.redactDeep(input);
    const serialised = JSON.stringify(out);
    for (const raw of [CLIENT_SECRET, XOAUTH2, JWT, 'plain-token-value', 'opaque-token', 'whatever']) {
      assert.ok(!serialised.includes(raw), `raw value leaked: ${raw.slice(0, 12)}…`);
    }
    const record = out as Record<string, unknown>;
    const err = record['error'] as Record<string, unknown>;
    assert.equal(err['name'], 'Error');
    assert.equal(err['code'], 'EAUTH');
    assert.equal(err['message'], 'login failed with [redacted]');
    assert.match(String(err['stack']), /^Error: login failed with \[redacted\]\n/);
    assert.deepEqual(record['cyclic'], { name: 'loop', self: '[circular]' });
    assert.deepEqual(record['b'], { note: 'shared' });
    assert.equal(record['count'], 3);
    assert.equal(input.list[0], `x ${CLIENT_SECRET}`, 'input must not be mutated');
  });
});
