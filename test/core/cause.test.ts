import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CAUSE_RULES, CAUSES, causeOf, evidenceOf, type CheckEvidence } from '../../src/core/cause.js';
import { PROTOCOLS } from '../../src/core/check.js';
import { REASONS } from '../../src/core/reasons.js';
import type { CheckResult } from '../../src/core/result.js';
import { MonitorCauses } from '../../src/runner/causes.js';

const pass = (check: CheckEvidence['check']): CheckEvidence => ({ check, ok: true });
const fail = (
  check: CheckEvidence['check'],
  reason: NonNullable<CheckEvidence['reason']>,
  stage: NonNullable<CheckEvidence['stage']>,
  protocol?: CheckEvidence['protocol'],
): CheckEvidence => ({
  check,
  ok: false,
  reason,
  stage,
  ...(protocol ? { protocol } : {}),
});
const alone = { serviceDownElsewhere: false };

test('no cause while every check passes, or before any ran', () => {
  assert.equal(causeOf([pass('imap'), pass('smtp')], alone), undefined);
  assert.equal(causeOf([], alone), undefined);
});

test('identity: every path fails at the token', () => {
  assert.equal(causeOf([fail('imap', 'token_secret_expired', 'token'), fail('smtp', 'token_secret_expired', 'token')], alone), 'identity');
  assert.equal(causeOf([fail('imap', 'credential_missing', 'config')], alone), 'identity');
  // one path's token lacks its role while the other path signs in: that path, not the identity
  assert.equal(causeOf([fail('imap', 'role_missing', 'role', 'imap'), pass('smtp')], alone), 'protocol:imap');
});

test('smtp_auth_gate: SMTP AUTH switched off, whatever the other paths say', () => {
  assert.equal(causeOf([pass('imap'), fail('smtp', 'smtp_auth_disabled_tenant', 'auth', 'smtp')], alone), 'smtp_auth_gate');
  assert.equal(causeOf([fail('smtp', 'smtp_auth_disabled_mailbox', 'auth', 'smtp')], alone), 'smtp_auth_gate');
  assert.equal(causeOf([fail('imap', 'auth_failed', 'auth', 'imap'), fail('smtp', 'smtp_auth_policy_blocked', 'auth', 'smtp')], alone), 'smtp_auth_gate');
});

test('service: every path unreachable here and in another tenant; unknown when only this tenant sees it', () => {
  const down = [fail('imap', 'connect_refused', 'connect', 'imap'), fail('smtp', 'timeout', 'greeting', 'smtp')];
  assert.equal(causeOf(down, { serviceDownElsewhere: true }), 'service');
  assert.equal(causeOf(down, alone), 'unknown');
  assert.equal(causeOf([fail('imap', 'token_endpoint_unreachable', 'token')], { serviceDownElsewhere: true }), 'service');
  // one path's server unreachable while another path reaches the mailbox: that path's front end
  assert.equal(causeOf([fail('imap', 'connect_refused', 'connect', 'imap'), pass('smtp')], { serviceDownElsewhere: true }), 'protocol:imap');
});

test('mail_flow: the send was accepted and nothing arrived', () => {
  assert.equal(causeOf([pass('imap'), pass('smtp'), fail('roundtrip', 'delivery_timeout', 'delivery', 'imap')], alone), 'mail_flow');
  assert.equal(causeOf([fail('roundtrip', 'delivery_timeout', 'delivery')], alone), 'mail_flow');
});

test('mailbox: a path says the mailbox is missing, full or cannot be opened', () => {
  assert.equal(causeOf([pass('imap'), fail('smtp', 'mailbox_full', 'send', 'smtp')], alone), 'mailbox');
  assert.equal(causeOf([fail('imap', 'auth_failed', 'auth', 'imap'), fail('smtp', 'invalid_user', 'auth', 'smtp')], alone), 'mailbox');
  assert.equal(causeOf([fail('imap', 'list_failed', 'list', 'imap')], alone), 'mailbox');
});

test('protocol: one path refused while another reaches the same mailbox', () => {
  assert.equal(causeOf([fail('imap', 'auth_failed', 'auth', 'imap'), pass('smtp')], alone), 'protocol:imap');
  assert.equal(causeOf([pass('imap'), fail('smtp', 'auth_failed', 'auth', 'smtp')], alone), 'protocol:smtp');
  assert.equal(causeOf([pass('imap'), fail('pop3', 'auth_failed', 'auth', 'pop3'), pass('smtp')], alone), 'protocol:pop3');
  // two refused while a third reaches: the first in protocol order, whatever order the results came in
  assert.equal(causeOf([fail('pop3', 'auth_failed', 'auth', 'pop3'), fail('imap', 'auth_failed', 'auth', 'imap'), pass('smtp')], alone), 'protocol:imap');
});

test('mailbox: every path reaches the service and every one is refused', () => {
  assert.equal(causeOf([fail('imap', 'auth_failed', 'auth', 'imap'), fail('smtp', 'auth_failed', 'auth', 'smtp')], alone), 'mailbox');
  // refused when it sends, not when it signs in: still a refusal, not a path that reached the mailbox
  assert.equal(causeOf([fail('imap', 'auth_failed', 'auth', 'imap'), fail('smtp', 'send_as_denied', 'send', 'smtp')], alone), 'mailbox');
});

test("a monitor's only check: its own evidence", () => {
  assert.equal(causeOf([fail('imap', 'auth_failed', 'auth', 'imap')], alone), 'protocol:imap');
  assert.equal(causeOf([fail('smtp', 'send_as_denied', 'send', 'smtp')], alone), 'protocol:smtp');
  assert.equal(causeOf([fail('imap', 'token_unknown_app', 'token')], alone), 'identity');
});

test('unknown: the checks configured cannot tell', () => {
  // mailprobe's own limit or bug says nothing about Microsoft 365
  assert.equal(causeOf([fail('roundtrip', 'send_budget_exhausted', 'send'), pass('imap')], alone), 'unknown');
  // one path without a token, the other without a server: neither reached the mailbox
  assert.equal(causeOf([fail('imap', 'token_secret_expired', 'token'), fail('smtp', 'connect_refused', 'connect', 'smtp')], alone), 'unknown');
  // every path lost its server, one of them after its send began (an HTTPS request is cut in its one step, a session
  // mid-way): that path did not show the mailbox reachable, so no protocol is blamed
  const cut = [fail('imap', 'connection_reset', 'tls', 'imap'), fail('smtp', 'connection_reset', 'send', 'smtp')];
  assert.equal(causeOf(cut, alone), 'unknown');
  assert.equal(causeOf(cut, { serviceDownElsewhere: true }), 'service');
  assert.equal(causeOf([fail('imap', 'auth_failed', 'auth', 'imap'), fail('smtp', 'timeout', 'send', 'smtp')], alone), 'unknown');
});

test('every reason has evidence, and every rule names a cause in CAUSES (or a protocol)', () => {
  for (const reason of REASONS) assert.ok(evidenceOf(reason), reason);
  for (const rule of CAUSE_RULES) assert.ok(rule.cause === 'protocol' || CAUSES.includes(rule.cause), rule.cause);
  assert.deepEqual(
    CAUSES.filter((cause) => cause.startsWith('protocol:')),
    PROTOCOLS.map((protocol) => `protocol:${protocol}`),
  );
});

function result(
  monitor: string,
  tenant: string,
  check: CheckResult['check'],
  failure?: { reason: CheckResult['reason'] & string; stage: 'connect' | 'auth' },
): CheckResult {
  return {
    monitor,
    tenant,
    mailbox: `${monitor}@contoso.com`,
    check,
    startedAt: 0,
    durationSeconds: 0.1,
    outcome: failure
      ? {
          ok: false,
          steps: [],
          measured: {},
          facts: {},
          failure: { stage: failure.stage, reason: failure.reason, message: 'm', protocol: check === 'smtp' ? 'smtp' : 'imap' },
        }
      : { ok: true, steps: [], measured: {}, facts: {} },
    ...(failure ? { reason: failure.reason } : {}),
  };
}

test("the board weighs a result with its monitor's other checks and other tenants' outages", () => {
  const board = new MonitorCauses();
  assert.equal(board.observe(result('a', 'contoso', 'smtp')), undefined);
  assert.equal(board.observe(result('a', 'contoso', 'imap', { reason: 'auth_failed', stage: 'auth' })), 'protocol:imap');
  assert.equal(board.observe(result('a', 'contoso', 'smtp', { reason: 'auth_failed', stage: 'auth' })), 'mailbox');

  assert.equal(board.observe(result('b', 'contoso', 'imap', { reason: 'connect_refused', stage: 'connect' })), 'unknown');
  // a second monitor of the same tenant is not a second tenant
  assert.equal(board.observe(result('b2', 'contoso', 'imap', { reason: 'connect_refused', stage: 'connect' })), 'unknown');
  assert.equal(board.observe(result('c', 'fabrikam', 'imap', { reason: 'connect_refused', stage: 'connect' })), 'service');
  assert.equal(board.observe(result('b', 'contoso', 'imap', { reason: 'connect_refused', stage: 'connect' })), 'service');
  // once the other tenant's monitor is gone, one tenant alone cannot tell
  board.forget({ monitor: 'c', tenant: 'fabrikam', check: 'imap' });
  assert.equal(board.observe(result('b', 'contoso', 'imap', { reason: 'connect_refused', stage: 'connect' })), 'unknown');
  assert.equal(board.observe(result('b', 'contoso', 'imap')), undefined);
});
