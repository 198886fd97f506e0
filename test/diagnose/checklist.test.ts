import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildChecklist, propagationMayMatter, type ChecklistInput } from '../../src/diagnose/checklist.js';
import { diagnose } from '../../src/diagnose/diagnose.js';
import type { CheckKind } from '../../src/core/check.js';
import { CHECK } from '../../src/core/checks.js';
import type { ProbeFailure } from '../../src/core/outcome.js';
import type { CheckResult } from '../../src/core/result.js';

const monitor = {
  name: 'm1',
  mailbox: 'probe@contoso.com',
  tenantId: '9b62d4ed-1234-1234-b00d-341a1bd0b3f5',
  clientId: '10e1f456-3921-1234-1234-105af0774c61',
};
const now = Date.parse('2026-11-26T10:00:00Z');
const claims = {
  aud: 'https://outlook.office.com',
  roles: ['IMAP.AccessAsApp', 'SMTP.SendAsApp'],
  tid: monitor.tenantId,
  oid: '7e9d0608-db24-1234-1234-c8d03424192d',
  exp: now / 1000 + 3600,
};

function result(check: CheckKind, failure?: ProbeFailure): CheckResult {
  const base: CheckResult = {
    monitor: 'm1',
    tenant: 't',
    mailbox: monitor.mailbox,
    check,
    startedAt: now,
    durationSeconds: 0.1,
    outcome: { ok: !failure, steps: [], measured: check === 'imap' ? { folderCount: 9 } : {}, facts: {}, ...(failure ? { failure } : {}) },
  };
  if (failure) {
    base.diagnosis = diagnose({
      reason: failure.reason,
      stage: failure.stage,
      protocol: CHECK[check].protocols.at(-1),
      claims,
      monitor,
      now,
      ...(failure.serverText ? { serverText: failure.serverText } : {}),
    });
  }
  return base;
}

function input(overrides: Partial<ChecklistInput>): ChecklistInput {
  return { monitor, checks: ['imap', 'smtp'], credential: { ok: true, detail: 'secret' }, token: { ok: true, claims }, results: {}, now, ...overrides };
}

describe('doctor checklist', () => {
  test('a healthy monitor passes every configured step and skips the others', () => {
    const items = buildChecklist(input({ results: { imap: result('imap'), smtp: result('smtp') } }));
    const verdicts = Object.fromEntries(items.map((item) => [item.id, item.verdict]));
    assert.deepEqual(verdicts, {
      config: 'pass',
      token: 'pass',
      audience: 'pass',
      roles: 'pass',
      imap_xoauth2: 'pass',
      imap_auth: 'pass',
      imap_list: 'pass',
      pop3_xoauth2: 'skipped',
      pop3_auth: 'skipped',
      pop3_stat: 'skipped',
      smtp_xoauth2: 'pass',
      smtp_auth: 'pass',
      smtp_send: 'pass',
      arrival: 'skipped',
      graph_send: 'skipped',
      graph_arrival: 'skipped',
      graph_cleanup: 'skipped',
      graph_list: 'skipped',
    });
    assert.equal(items.find((item) => item.id === 'imap_list')?.detail, '9 folders');
  });

  test('the first failing step carries the fix; later steps are not reached', () => {
    const items = buildChecklist(
      input({
        results: {
          imap: result('imap', { stage: 'auth', reason: 'auth_failed', serverText: 'A1 NO AUTHENTICATE failed.', message: 'rejected' }),
          smtp: result('smtp', { stage: 'auth', reason: 'auth_failed', serverText: '535 5.7.3 Authentication unsuccessful', message: 'rejected' }),
        },
      }),
    );
    const failing = items.filter((item) => item.verdict === 'fail');
    assert.equal(failing.length, 1);
    assert.equal(failing[0]?.id, 'imap_auth');
    assert.ok(failing[0]?.diagnosis?.fixes.some((fix) => fix.includes('-ObjectId 7e9d0608-db24-1234-1234-c8d03424192d')));
    assert.equal(items.find((item) => item.id === 'imap_xoauth2')?.verdict, 'pass');
    assert.equal(items.find((item) => item.id === 'smtp_auth')?.verdict, 'not_reached');
    assert.ok(propagationMayMatter(items));
  });

  test('a role missing from the token is a warning: the protocol steps still run and the server decides', () => {
    const items = buildChecklist(input({ checks: ['imap', 'pop3'], token: { ok: true, claims: { ...claims, roles: ['IMAP.AccessAsApp'] } } }));
    const roles = items.find((item) => item.id === 'roles');
    assert.equal(roles?.verdict, 'warn');
    assert.match(roles?.detail ?? '', /not in the token: POP\.AccessAsApp/);
    assert.equal(items.find((item) => item.id === 'imap_auth')?.verdict, 'not_reached');
    assert.equal(
      items.some((item) => item.verdict === 'fail'),
      false,
    );
  });

  test('a High Volume Email monitor: doctor asks the token for Mail.Send, not SMTP.SendAsApp', () => {
    const hve = { ...monitor, roles: { smtp: 'Mail.Send' } };
    const lacking = buildChecklist(input({ monitor: hve, checks: ['smtp'], token: { ok: true, claims: { ...claims, roles: ['SMTP.SendAsApp'] } } }));
    assert.equal(lacking.find((item) => item.id === 'roles')?.title, 'Roles granted by admin consent (Mail.Send)');
    assert.match(lacking.find((item) => item.id === 'roles')?.detail ?? '', /not in the token: Mail\.Send/);
    const holding = buildChecklist(input({ monitor: hve, checks: ['smtp'], token: { ok: true, claims: { ...claims, roles: ['Mail.Send'] } } }));
    assert.equal(holding.find((item) => item.id === 'roles')?.verdict, 'pass');
  });

  test('declared RBAC-scoped with the Entra SMTP role in the token: doctor warns that the grants add up', () => {
    const items = buildChecklist(input({ monitor: { ...monitor, authorization: 'rbac' } }));
    const rbac = items.find((item) => item.id === 'rbac');
    assert.equal(rbac?.verdict, 'warn');
    assert.match(
      rbac?.detail ?? '',
      /carries the Entra SMTP\.SendAsApp role: Entra and RBAC grants add up, so app 10e1f456-3921-1234-1234-105af0774c61 may send as every mailbox/,
    );
    assert.match(rbac?.detail ?? '', /Test-ServicePrincipalAuthorization -Identity 10e1f456-3921-1234-1234-105af0774c61 -Resource probe@contoso\.com/);
    assert.equal(
      items.some((item) => item.verdict === 'fail'),
      false,
    );
  });

  test('declared RBAC-scoped without the Entra role: the rbac step passes and names the scope check', () => {
    const items = buildChecklist(
      input({ monitor: { ...monitor, authorization: 'rbac' }, token: { ok: true, claims: { ...claims, roles: ['IMAP.AccessAsApp'] } } }),
    );
    const rbac = items.find((item) => item.id === 'rbac');
    assert.equal(rbac?.verdict, 'pass');
    assert.match(rbac?.detail ?? '', /no Entra SMTP\.SendAsApp, as an RBAC-only grant should; verify the scope with Test-ServicePrincipalAuthorization/);
  });

  test('undeclared: no rbac step', () => {
    assert.equal(
      buildChecklist(input({})).some((item) => item.id === 'rbac'),
      false,
    );
  });

  test('a token refusal stops the walk at the token step', () => {
    const items = buildChecklist(
      input({ token: { ok: false, reason: 'token_secret_expired', serverText: 'AADSTS7000222: The provided client secret keys for app are expired.' } }),
    );
    assert.equal(items.find((item) => item.id === 'token')?.verdict, 'fail');
    assert.equal(items.find((item) => item.id === 'roles')?.verdict, 'not_reached');
  });

  test('an unreadable credential fails the first step', () => {
    const items = buildChecklist(input({ credential: { ok: false, detail: 'environment variable X is not set or empty' }, token: undefined }));
    assert.equal(items[0]?.verdict, 'fail');
    assert.equal(items[0]?.reason, 'credential_missing');
    assert.equal(items.find((item) => item.id === 'token')?.verdict, 'not_reached');
  });
});
