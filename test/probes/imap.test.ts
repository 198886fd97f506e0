import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { imapProbe } from '../../src/probes/imap.js';
import { closedPort, runScripted, startScriptedServer, testContext, testPki, testXOAuth2, type ScriptStep } from '../support/scripted-server.js';
import { assertServerEnding } from '../support/server-ending.js';

// A hang is cut by the step timeout, and the outcome says so; the timeout is long enough that connect and TLS finish
// first on a loaded machine, and no test measures how long the cut took.
const HANG_STEP_TIMEOUT_MS = 1000;
const STEP_TIMED_OUT = new RegExp(`no answer within ${HANG_STEP_TIMEOUT_MS} ms`);

const GREETING =
  '* OK The Microsoft Exchange IMAP4 service is ready. [RgBSADMAUAAyADgAMQBDAEEAMAAxADUANwAuAEQARQBVAFAAMgA4ADEALgBQAFIATwBEAC4ATwBVAFQATABPAE8ASwAuAEMATwBNAA==]\r\n';
const CAPS_BEFORE = 'IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+';
const CAPS_AFTER =
  'IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CLIENTACCESSRULES CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE CHILDREN IDLE NAMESPACE LITERAL+';

/** One command and its answer: untagged lines, then the tagged status with the client's tag. */
function command(pattern: string, untagged: string[], status: string): ScriptStep {
  return {
    expect: new RegExp(`(\\S+) ${pattern}`),
    reply: (match) => [...untagged, `${match[1]} ${status}`].map((line) => `${line}\r\n`).join(''),
  };
}

const capability = (caps: string): ScriptStep => command('CAPABILITY', [`* CAPABILITY ${caps}`], 'OK CAPABILITY completed.');
const AUTHENTICATE = (status: string): ScriptStep => command(`AUTHENTICATE XOAUTH2 ${testXOAuth2()}`, [], status);
const UNTIL_AUTH: ScriptStep[] = [{ send: GREETING }, capability(CAPS_BEFORE), AUTHENTICATE(`OK [CAPABILITY ${CAPS_AFTER}] AUTHENTICATE completed.`)];
const LIST = (untagged: string[]): ScriptStep => command('LIST "" "\\*"', untagged, 'OK LIST completed.');
const LOGOUT = command('LOGOUT', ['* BYE Microsoft Exchange Server IMAP4 server signing off.'], 'OK LOGOUT completed.');

function probe(script: ScriptStep[], options: { stepTimeoutMs?: number; ca?: string[] } = {}) {
  return runScripted(imapProbe, 'imap', script, { tls: 'implicit', ...options });
}

describe('imap probe', () => {
  test('healthy Exchange session: XOAUTH2 with SASL-IR, LIST counts folders, LOGOUT', async () => {
    const { outcome, server, transcript } = await probe([
      ...UNTIL_AUTH,
      LIST(['* LIST (\\HasNoChildren) "/" Archive', '* LIST (\\Marked \\HasNoChildren) "/" INBOX', '* LIST (\\HasNoChildren \\Sent) "/" "Sent Items"']),
      LOGOUT,
      { close: true },
    ]);
    assert.equal(outcome.ok, true, JSON.stringify(outcome.failure));
    assert.deepEqual(server.problems, []);
    assert.deepEqual(outcome.measured, { folderCount: 3 });
    assert.deepEqual(
      outcome.steps.map((s) => s.step),
      ['connect', 'tls', 'greeting', 'capability', 'auth', 'list', 'logout'],
    );
    assert.equal(transcript[0], `S: ${GREETING.trimEnd()}`);
    assert.ok(
      transcript.some((line) => /^C: \S+ AUTHENTICATE XOAUTH2 \[redacted\]$/.test(line)),
      transcript.join('\n'),
    );
    assert.ok(transcript.includes('S: * BYE Microsoft Exchange Server IMAP4 server signing off.'));
  });

  test('without SASL-IR the credential follows the server\'s "+" on a line of its own, masked in the transcript', async () => {
    let tag = '';
    const { outcome, server, transcript } = await probe([
      { send: GREETING },
      capability('IMAP4rev1 AUTH=XOAUTH2'),
      {
        expect: /(\S+) AUTHENTICATE XOAUTH2/,
        reply: (match) => {
          tag = match[1] ?? '';
          return '+ \r\n';
        },
      },
      { expect: testXOAuth2(), reply: () => `${tag} OK AUTHENTICATE completed.\r\n` },
      LIST(['* LIST (\\HasNoChildren) "/" INBOX']),
      LOGOUT,
      { close: true },
    ]);
    assert.equal(outcome.ok, true, JSON.stringify(outcome.failure));
    assert.deepEqual(server.problems, []);
    assert.ok(transcript.includes('C: [redacted]'), transcript.join('\n'));
    assert.ok(!transcript.some((line) => line.includes(testXOAuth2())));
  });

  test('LIST answers with literals: a folder name sent as {n} is one folder, whatever its bytes hold', async () => {
    const { outcome, server } = await probe([
      ...UNTIL_AUTH,
      LIST(
        // The literal's 9 bytes hold a CRLF and "* LIST": one folder, not two.
        ['* LIST (\\HasNoChildren) "/" INBOX', '* LIST (\\HasNoChildren) "/" {9}', 'x', '* LIST', '* LIST (\\HasNoChildren) "/" "Sent Items"'],
      ),
      LOGOUT,
      { close: true },
    ]);
    assert.equal(outcome.ok, true, JSON.stringify(outcome.failure));
    assert.deepEqual(server.problems, []);
    assert.deepEqual(outcome.measured, { folderCount: 3 });
  });

  test("a literal beyond the client's bound is a protocol error, not an allocation", async () => {
    const { outcome } = await probe([...UNTIL_AUTH, LIST(['* LIST () "/" {2147483647}'])]);
    assert.equal(outcome.failure?.stage, 'list');
    assert.equal(outcome.failure?.reason, 'protocol_error');
    assert.match(outcome.failure?.message ?? '', /literal of 2147483647 bytes/);
  });

  test('a greeting of BYE is the server refusing, in its own words, at greeting', async () => {
    const { outcome, server } = await probe([{ send: '* BYE Connection refused, too many sessions.\r\n' }, { close: true }]);
    assert.equal(outcome.failure?.stage, 'greeting');
    assert.equal(outcome.failure?.serverText, 'BYE Connection refused, too many sessions.');
    assert.deepEqual(server.received, [], 'nothing is sent to a server that said BYE');
  });

  test('an answer tagged for another command is a protocol error', async () => {
    const { outcome } = await probe([{ send: GREETING }, { expect: /\S+ CAPABILITY/, reply: 'Z9 OK CAPABILITY completed.\r\n' }]);
    assert.equal(outcome.failure?.stage, 'capability');
    assert.equal(outcome.failure?.reason, 'protocol_error');
  });

  test('rejected token: Exchange NO AUTHENTICATE failed. at auth', async () => {
    const { outcome } = await probe([...UNTIL_AUTH.slice(0, 2), AUTHENTICATE('NO AUTHENTICATE failed.')]);
    assert.equal(outcome.failure?.stage, 'auth');
    assert.equal(outcome.failure?.reason, 'auth_failed');
    assert.equal(outcome.failure?.serverText, 'NO AUTHENTICATE failed.');
  });

  test('throttling keeps the exact server text', async () => {
    const text = 'NO Request is throttled. Suggested Backoff Time: 299609 milliseconds';
    const { outcome } = await probe([...UNTIL_AUTH.slice(0, 2), AUTHENTICATE(text)], { stepTimeoutMs: 400 });
    assert.equal(outcome.failure?.stage, 'auth');
    assert.equal(outcome.failure?.reason, 'throttled');
    assert.equal(outcome.failure?.serverText, text);
  });

  test('Dovecot-style SASL error challenge: empty reply, then the tagged NO is the failure', async () => {
    let tag = '';
    const { outcome, server } = await probe([
      // Dovecot announces its capabilities in the greeting, so the probe sends no CAPABILITY first.
      { send: '* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=XOAUTH2 AUTH=OAUTHBEARER ID] Dovecot ready.\r\n' },
      {
        expect: new RegExp(`(\\S+) AUTHENTICATE XOAUTH2 ${testXOAuth2()}`),
        reply: (match) => {
          tag = match[1] ?? '';
          return '+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIn0=\r\n';
        },
      },
      { expect: '', reply: () => `${tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n` },
    ]);
    assert.deepEqual(server.problems, []);
    assert.ok(!server.received.some((line) => /CAPABILITY$/.test(line)), 'the greeting listed the capabilities');
    assert.equal(outcome.failure?.stage, 'auth');
    assert.equal(outcome.failure?.reason, 'auth_failed');
    assert.equal(outcome.failure?.serverText, 'NO [AUTHENTICATIONFAILED] Authentication failed.');
  });

  test('"User is authenticated but not connected." after AUTHENTICATE is its own failure at list', async () => {
    const { outcome } = await probe([
      ...UNTIL_AUTH,
      {
        expect: /(\S+) LIST "" "\*"/,
        reply: (match) => `${match[1]} BAD User is authenticated but not connected.\r\n* BYE Connection closed. 14\r\n`,
      },
      { close: true },
    ]);
    assert.equal(outcome.failure?.stage, 'list');
    assert.equal(outcome.failure?.reason, 'auth_not_connected');
    assert.equal(outcome.failure?.serverText, 'BAD User is authenticated but not connected.');
  });

  test('no AUTH=XOAUTH2 in CAPABILITY fails at capability before any credential is sent', async () => {
    const { outcome, server } = await probe([{ send: GREETING }, capability('IMAP4 IMAP4rev1 AUTH=PLAIN SASL-IR ID')]);
    assert.ok(!server.received.some((line) => line.includes('AUTHENTICATE')));
    assert.equal(outcome.failure?.stage, 'capability');
    assert.equal(outcome.failure?.reason, 'xoauth2_not_offered');
  });

  test('connection refused', async () => {
    const outcome = await imapProbe(testContext({ protocol: 'imap', port: await closedPort(), ca: [] }));
    assert.equal(outcome.failure?.stage, 'connect');
    assert.equal(outcome.failure?.reason, 'connect_refused');
  });

  test('server silent after the handshake is cut by the step timeout at greeting', async () => {
    const { outcome } = await probe([{ hang: true }], { stepTimeoutMs: HANG_STEP_TIMEOUT_MS });
    assert.equal(outcome.failure?.stage, 'greeting');
    assert.equal(outcome.failure?.reason, 'timeout');
    assert.match(outcome.failure?.message ?? '', STEP_TIMED_OUT, 'the step timeout cut the hang');
  });

  test('server silent after AUTHENTICATE times out at auth', async () => {
    const { outcome } = await probe([...UNTIL_AUTH.slice(0, 2), { expect: /\S+ AUTHENTICATE .*/ }, { hang: true }], {
      stepTimeoutMs: HANG_STEP_TIMEOUT_MS,
    });
    assert.equal(outcome.failure?.stage, 'auth');
    assert.equal(outcome.failure?.reason, 'timeout');
    assert.match(outcome.failure?.message ?? '', STEP_TIMED_OUT);
  });

  test('reset in the middle of LIST', async () => {
    const { outcome } = await probe([...UNTIL_AUTH, { expect: /\S+ LIST .*/ }, { reset: true }]);
    assert.equal(outcome.failure?.stage, 'list');
    assert.equal(outcome.failure?.reason, 'connection_reset');
  });

  test('the runner abort ends the session with timeout at the step in progress', async () => {
    const controller = new AbortController();
    const pki = await testPki();
    const script: ScriptStep[] = [{ send: GREETING }, { expect: /\S+ CAPABILITY/ }, { call: () => controller.abort() }, { hang: true }];
    const server = await startScriptedServer({ tls: pki.server, script });
    try {
      const ctx = testContext({ protocol: 'imap', port: server.port, ca: [pki.ca.cert], signal: controller.signal });
      const outcome = await imapProbe(ctx);
      assert.equal(outcome.failure?.stage, 'capability');
      assert.equal(outcome.failure?.reason, 'timeout');
      assert.match(outcome.failure?.message ?? '', /aborted/, 'the abort ended it, not the step timeout');
    } finally {
      await server.close();
    }
  });

  test('certificate from a CA the endpoint does not trust', async () => {
    const { outcome } = await probe([{ send: GREETING }], { ca: [] });
    assert.equal(outcome.failure?.stage, 'tls');
    assert.equal(outcome.failure?.reason, 'tls_untrusted');
  });
});

// The server ends the session itself (issue 21): a reply that came before the close wins over the close.
describe('imap probe: the server ends the session', () => {
  test('an untagged BYE after login, then the close: the BYE is the failure, server_unavailable at list', async () => {
    const { outcome, server } = await probe([...UNTIL_AUTH, { expect: /\S+ LIST "" "\*"/, reply: '* BYE Connection closed. 14\r\n' }, { close: true }]);
    assert.deepEqual(server.problems, []);
    assert.equal(outcome.failure?.stage, 'list');
    assertServerEnding(outcome, 'imap', 'BYE Connection closed. 14', 'server_unavailable');
  });

  test('a BYE instead of the greeting is the server refusing the session for now', async () => {
    const { outcome } = await probe([{ send: '* BYE Connection closed. 14\r\n' }, { close: true }]);
    assert.equal(outcome.failure?.stage, 'greeting');
    assertServerEnding(outcome, 'imap', 'BYE Connection closed. 14', 'server_unavailable');
  });
});
