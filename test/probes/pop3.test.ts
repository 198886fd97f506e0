import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pop3Probe } from '../../src/probes/pop3.js';
import { closedPort, runScripted, testContext, testXOAuth2, type ScriptStep } from '../support/scripted-server.js';
import { assertServerEnding } from '../support/server-ending.js';

// A hang is cut by the step timeout, and the outcome says so; the timeout is long enough that connect and TLS finish
// first on a loaded machine, and no test measures how long the cut took.
const HANG_STEP_TIMEOUT_MS = 1000;
const STEP_TIMED_OUT = new RegExp(`no answer within ${HANG_STEP_TIMEOUT_MS} ms`);

const GREETING =
  '+OK The Microsoft Exchange POP3 service is ready. [RgBSADMAUAAyADgAMQBDAEEAMAAxADUANwAuAEQARQBVAFAAMgA4ADEALgBQAFIATwBEAC4ATwBVAFQATABPAE8ASwAuAEMATwBNAA==]\r\n';
const CAPA = { expect: 'CAPA', reply: '+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\nUSER\r\n.\r\n' };
const AUTH_READY = { expect: 'AUTH XOAUTH2', reply: '+ \r\n' };
const AUTH_OK = { expect: testXOAuth2(), reply: '+OK User successfully authenticated.\r\n' };
const UNTIL_AUTH: ScriptStep[] = [{ send: GREETING }, CAPA, AUTH_READY, AUTH_OK];

function probe(script: ScriptStep[], options: { stepTimeoutMs?: number; ca?: string[]; signal?: AbortSignal } = {}) {
  return runScripted(pop3Probe, 'pop3', script, { tls: 'implicit', ...options });
}

describe('pop3 probe', () => {
  test('healthy Exchange session: two-step XOAUTH2, STAT counts, QUIT', async () => {
    const { outcome, server, transcript } = await probe([
      ...UNTIL_AUTH,
      { expect: 'STAT', reply: '+OK 2 4817\r\n' },
      { expect: 'QUIT', reply: '+OK Microsoft Exchange Server POP3 server signing off.\r\n' },
      { close: true },
    ]);
    assert.equal(outcome.ok, true, JSON.stringify(outcome.failure));
    assert.deepEqual(outcome.measured, { messageCount: 2 });
    assert.deepEqual(outcome.facts, { mailboxBytes: 4817 });
    assert.deepEqual(server.problems, []);
    assert.deepEqual(server.received, ['CAPA', 'AUTH XOAUTH2', testXOAuth2(), 'STAT', 'QUIT']);
    assert.deepEqual(
      outcome.steps.map((s) => s.step),
      ['connect', 'tls', 'greeting', 'capability', 'auth', 'stat', 'logout'],
    );
    assert.ok(outcome.steps.every((s) => s.seconds >= 0));
    assert.deepEqual(transcript.slice(0, 11), [
      `S: ${GREETING.trimEnd()}`,
      'C: CAPA',
      'S: +OK',
      'S: TOP',
      'S: UIDL',
      'S: SASL PLAIN XOAUTH2',
      'S: USER',
      'S: .',
      'C: AUTH XOAUTH2',
      'S: + ',
      'C: [redacted]',
    ]);
  });

  test('rejected token: Exchange -ERR is the failure at auth, word for word', async () => {
    const reply = '-ERR Authentication failure: unknown user name or bad password.';
    const { outcome } = await probe([{ send: GREETING }, CAPA, AUTH_READY, { expect: testXOAuth2(), reply: `${reply}\r\n` }]);
    assert.equal(outcome.ok, false);
    assert.equal(outcome.failure?.stage, 'auth');
    assert.equal(outcome.failure?.reason, 'auth_failed');
    assert.equal(outcome.failure?.serverText, reply);
  });

  test('Dovecot-style error challenge: empty line answers it, the final -ERR is the failure', async () => {
    const { outcome, server } = await probe([
      { send: '+OK Dovecot ready.\r\n' },
      { expect: 'CAPA', reply: '+OK\r\nCAPA\r\nSASL PLAIN XOAUTH2 OAUTHBEARER\r\n.\r\n' },
      AUTH_READY,
      { expect: testXOAuth2(), reply: '+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIn0=\r\n' },
      { expect: '', reply: '-ERR [AUTH] Authentication failed.\r\n' },
    ]);
    assert.deepEqual(server.problems, []);
    assert.equal(outcome.failure?.stage, 'auth');
    assert.equal(outcome.failure?.reason, 'auth_failed');
    assert.equal(outcome.failure?.serverText, '-ERR [AUTH] Authentication failed.');
  });

  test('XOAUTH2 missing from CAPA fails at capability without sending credentials', async () => {
    const { outcome, server } = await probe([{ send: GREETING }, { expect: 'CAPA', reply: '+OK\r\nTOP\r\nSASL PLAIN\r\n.\r\n' }]);
    assert.deepEqual(server.received, ['CAPA']);
    assert.equal(outcome.failure?.stage, 'capability');
    assert.equal(outcome.failure?.reason, 'xoauth2_not_offered');
    assert.equal(outcome.failure?.serverText, 'SASL PLAIN');
  });

  test('connection refused', async () => {
    const ctx = testContext({ protocol: 'pop3', port: await closedPort(), ca: [] });
    const outcome = await pop3Probe(ctx);
    assert.equal(outcome.failure?.stage, 'connect');
    assert.equal(outcome.failure?.reason, 'connect_refused');
  });

  test('server silent after the handshake is cut by the step timeout at greeting', async () => {
    const { outcome } = await probe([{ hang: true }], { stepTimeoutMs: HANG_STEP_TIMEOUT_MS });
    assert.equal(outcome.failure?.stage, 'greeting');
    assert.equal(outcome.failure?.reason, 'timeout');
    assert.match(outcome.failure?.message ?? '', STEP_TIMED_OUT, 'the step timeout cut the hang');
  });

  test('reset in the middle of the session', async () => {
    const { outcome } = await probe([...UNTIL_AUTH, { expect: 'STAT' }, { reset: true }]);
    assert.equal(outcome.failure?.stage, 'stat');
    assert.equal(outcome.failure?.reason, 'connection_reset');
  });

  test('certificate from a CA the endpoint does not trust', async () => {
    const { outcome } = await probe([{ send: GREETING }], { ca: [] });
    assert.equal(outcome.failure?.stage, 'tls');
    assert.equal(outcome.failure?.reason, 'tls_untrusted');
  });

  test('a line beyond 8 KiB is a protocol error', async () => {
    const { outcome } = await probe([{ send: `+OK ${'x'.repeat(9000)}\r\n` }]);
    assert.equal(outcome.failure?.stage, 'greeting');
    assert.equal(outcome.failure?.reason, 'protocol_error');
  });

  test('the runner abort ends the probe with timeout at the step in progress', async () => {
    const controller = new AbortController();
    const { outcome } = await probe([{ send: GREETING }, { expect: 'CAPA' }, { call: () => controller.abort() }, { hang: true }], {
      signal: controller.signal,
    });
    assert.equal(outcome.failure?.stage, 'capability');
    assert.equal(outcome.failure?.reason, 'timeout');
    assert.match(outcome.failure?.message ?? '', /aborted/, 'the abort ended it, not the step timeout');
  });
});

// The server ends the session itself (issue 21). Exchange's words: "-ERR Server Unavailable. 21" (email-oauth2-proxy
// #379, in docs/exchange-online-errors.md §4).
describe('pop3 probe: the server ends the session', () => {
  const UNAVAILABLE = '-ERR Server Unavailable. 21';

  test('-ERR instead of the greeting, then the close: nothing was sent, so no protocol error and no mailprobe bug', async () => {
    const { outcome, server } = await probe([{ send: `${UNAVAILABLE}\r\n` }, { close: true }]);
    assert.deepEqual(server.received, []);
    assert.equal(outcome.failure?.stage, 'greeting');
    assertServerEnding(outcome, 'pop3', UNAVAILABLE, 'server_unavailable');
  });

  test('-ERR after a login that worked, then the close: the server, not a missing FullAccess', async () => {
    const { outcome, server } = await probe([...UNTIL_AUTH, { expect: 'STAT', reply: `${UNAVAILABLE}\r\n` }, { close: true }]);
    assert.deepEqual(server.problems, []);
    assert.equal(outcome.failure?.stage, 'stat');
    assertServerEnding(outcome, 'pop3', UNAVAILABLE, 'server_unavailable');
  });
});
