import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAccessToken, isDecodeError, tokenProblems, type TokenClaims } from '../../src/diagnose/claims.js';
import { isAudienceOf } from '../../src/core/clouds.js';

const TENANT = '11111111-2222-3333-4444-555555555555';
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

function jwt(payload: unknown): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ typ: 'JWT', alg: 'RS256' })}.${part(payload)}.c2lnbmF0dXJl`;
}

// The shape of the real decoded app-only token in docs/exchange-online-errors.md, "Token claims".
const goodPayload = {
  aud: 'https://ps.outlook.com',
  iss: `https://sts.windows.net/${TENANT}/`,
  appid: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
  appidacr: '1',
  idtyp: 'app',
  oid: '7e9d0608-db24-1234-1234-c8d03424192d',
  roles: ['IMAP.AccessAsApp', 'SMTP.SendAsApp'],
  tid: TENANT,
  ver: '1.0',
  iat: NOW / 1000 - 600,
  exp: NOW / 1000 + 3300,
};

function goodClaims(overrides: Partial<TokenClaims> = {}): TokenClaims {
  const decoded = decodeAccessToken(jwt(goodPayload));
  assert.ok(!isDecodeError(decoded));
  return { ...decoded, ...overrides };
}

describe('decodeAccessToken', () => {
  test('reads the claims of an app-only token', () => {
    assert.deepEqual(decodeAccessToken(jwt({ ...goodPayload, extra: 1, rh: 'x' })), {
      aud: 'https://ps.outlook.com',
      iss: `https://sts.windows.net/${TENANT}/`,
      appid: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
      appidacr: '1',
      idtyp: 'app',
      oid: '7e9d0608-db24-1234-1234-c8d03424192d',
      roles: ['IMAP.AccessAsApp', 'SMTP.SendAsApp'],
      tid: TENANT,
      ver: '1.0',
      iat: goodPayload.iat,
      exp: goodPayload.exp,
    });
  });

  test('a token with no roles decodes to an empty list; wrong types are dropped', () => {
    assert.deepEqual(decodeAccessToken(jwt({ aud: 42, roles: 'IMAP.AccessAsApp', exp: 'soon' })), { roles: [] });
    assert.deepEqual(decodeAccessToken(jwt({ roles: ['A', 3] })), { roles: ['A'] });
  });

  test('errors never contain the token', () => {
    const secretish = 'eyJhbGciOiJub25lIn0.c2VjcmV0LXBheWxvYWQ.sig';
    const bad = ['not-a-token', `${secretish}.extra.parts`, 'a.!!!.c', secretish, `x.${Buffer.from('[1,2]').toString('base64url')}.y`];
    for (const token of bad) {
      const result = decodeAccessToken(token);
      assert.ok(isDecodeError(result), token);
      assert.ok(!result.error.includes(token) && !result.error.includes('c2VjcmV0'), result.error);
    }
  });
});

describe('isAudienceOf', () => {
  test('accepts Exchange Online resources with or without trailing slash, in all clouds', () => {
    for (const aud of [
      'https://outlook.office.com',
      'https://outlook.office365.com/',
      'https://ps.outlook.com',
      'https://outlook.office365.us',
      'https://outlook-dod.office365.us/',
      'https://partner.outlook.cn',
      '00000002-0000-0ff1-ce00-000000000000',
    ]) {
      assert.ok(isAudienceOf(aud, 'exchange'), aud);
      assert.ok(!isAudienceOf(aud, 'graph'), aud);
    }
  });
  test('accepts Microsoft Graph in all clouds for a Graph token only', () => {
    for (const aud of [
      'https://graph.microsoft.com',
      'https://graph.microsoft.us/',
      'https://dod-graph.microsoft.us',
      'https://microsoftgraph.chinacloudapi.cn',
      '00000003-0000-0000-c000-000000000000',
    ]) {
      assert.ok(isAudienceOf(aud, 'graph'), aud);
      assert.ok(!isAudienceOf(aud, 'exchange'), aud);
    }
  });
  test('rejects look-alikes', () => {
    for (const aud of ['https://outlook.office365.com.evil.example', 'outlook.office365.com', 'https://graph.microsoft.com.evil.example']) {
      assert.ok(!isAudienceOf(aud, 'exchange'), aud);
      assert.ok(!isAudienceOf(aud, 'graph'), aud);
    }
  });
});

describe('tokenProblems', () => {
  const expected = { tenantId: TENANT, resource: 'exchange' as const, requiredRoles: ['IMAP.AccessAsApp'], now: NOW };

  test('a good token has no problems', () => {
    assert.deepEqual(tokenProblems(goodClaims(), expected), []);
  });

  test('missing role', () => {
    assert.deepEqual(tokenProblems(goodClaims(), { ...expected, requiredRoles: ['POP.AccessAsApp'] }), [
      { reason: 'role_missing', detail: 'the token lacks POP.AccessAsApp (roles: IMAP.AccessAsApp, SMTP.SendAsApp)' },
    ]);
    assert.deepEqual(tokenProblems(goodClaims({ roles: [] }), expected), [
      { reason: 'role_missing', detail: 'the token lacks IMAP.AccessAsApp (roles: none)' },
    ]);
  });

  test('wrong audience comes before the missing role it causes', () => {
    const graph = goodClaims({ aud: 'https://graph.microsoft.com', roles: ['Mail.Read'] });
    assert.deepEqual(
      tokenProblems(graph, expected).map((p) => p.reason),
      ['token_wrong_audience', 'role_missing'],
    );
    assert.equal(tokenProblems(graph, expected)[0]?.detail, 'the token is for https://graph.microsoft.com, not Exchange Online');
  });

  test('a check on Graph accepts a Graph token and refuses an Exchange one', () => {
    const onGraph = { ...expected, resource: 'graph' as const, requiredRoles: ['Mail.Send'] };
    assert.deepEqual(tokenProblems(goodClaims({ aud: 'https://graph.microsoft.us', roles: ['Mail.Send'] }), onGraph), []);
    assert.deepEqual(tokenProblems(goodClaims({ roles: ['Mail.Send'] }), onGraph), [
      { reason: 'token_wrong_audience', detail: 'the token is for https://ps.outlook.com, not Microsoft Graph' },
    ]);
  });

  test('tenant compared only when configured as a GUID, case-insensitively', () => {
    const other = goodClaims({ tid: '99999999-2222-3333-4444-555555555555' });
    assert.deepEqual(tokenProblems(other, expected), [
      { reason: 'token_wrong_tenant', detail: `the token was issued by tenant 99999999-2222-3333-4444-555555555555, not ${TENANT}` },
    ]);
    assert.deepEqual(tokenProblems(other, { ...expected, tenantId: 'contoso.onmicrosoft.com' }), []);
    assert.deepEqual(tokenProblems(goodClaims(), { ...expected, tenantId: TENANT.toUpperCase() }), []);
  });

  test('expiry honours the skew', () => {
    const exp = NOW / 1000 - 120;
    assert.deepEqual(tokenProblems(goodClaims({ exp }), expected), []);
    assert.deepEqual(tokenProblems(goodClaims({ exp }), { ...expected, skewSeconds: 60 }), [
      { reason: 'token_expired', detail: 'the token expired at 2026-01-15T11:58:00.000Z (now 2026-01-15T12:00:00.000Z)' },
    ]);
  });
});
