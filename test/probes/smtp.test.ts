import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { smtpProbe } from '../../src/probes/smtp.js';
import { closedPort, runScripted, testContext, testXOAuth2, TEST_MAILBOX, type ScriptStep } from '../support/scripted-server.js';
import { assertServerEnding } from '../support/server-ending.js';

// A hang is cut by the step timeout, and the outcome says so; the timeout is long enough that connect and TLS finish
// first on a loaded machine, and no test measures how long the cut took.
const HANG_STEP_TIMEOUT_MS = 1000;
const STEP_TIMED_OUT = new RegExp(`no answer within ${HANG_STEP_TIMEOUT_MS} ms`);

const GREETING = '220 LO4P302CA0005.outlook.office365.com Microsoft ESMTP MAIL Service ready at Thu, 10 Oct 2024 22:49:55 +0000 [08DCE8B62813AB2B]\r\n';

function ehlo(middle: string): string {
  return [
    '250-LO4P302CA0005.outlook.office365.com Hello [203.0.113.5]',
    '250-SIZE 157286400',
    '250-PIPELINING',
    '250-DSN',
    '250-ENHANCEDSTATUSCODES',
    middle,
    '250-8BITMIME',
    '250-BINARYMIME',
    '250-CHUNKING',
    '250 SMTPUTF8',
  ]
    .map((line) => `${line}\r\n`)
    .join('');
}

const UNTIL_TLS: ScriptStep[] = [
  { send: GREETING },
  { expect: /EHLO \S+/, reply: ehlo('250-STARTTLS') },
  { expect: 'STARTTLS', reply: '220 2.0.0 SMTP server ready\r\n' },
  { startTls: true },
];
const SECURE_EHLO: ScriptStep = { expect: /EHLO \S+/, reply: ehlo('250-AUTH LOGIN XOAUTH2') };
const AUTH_READY: ScriptStep = { expect: 'AUTH XOAUTH2', reply: '334 \r\n' };
const UNTIL_AUTH: ScriptStep[] = [...UNTIL_TLS, SECURE_EHLO, AUTH_READY, { expect: testXOAuth2(), reply: '235 2.7.0 Authentication successful\r\n' }];
const ENVELOPE: ScriptStep[] = [
  { expect: `MAIL FROM:<${TEST_MAILBOX}>`, reply: '250 2.1.0 Sender OK\r\n' },
  { expect: `RCPT TO:<${TEST_MAILBOX}>`, reply: '250 2.1.5 Recipient OK\r\n' },
  { expect: 'DATA', reply: '354 Start mail input; end with <CRLF>.<CRLF>\r\n' },
];
const MESSAGE: ScriptStep[] = [
  `From: <${TEST_MAILBOX}>`,
  `To: <${TEST_MAILBOX}>`,
  'Subject: mailprobe probe test1',
  /Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000/,
  'Message-ID: <mailprobe.test1@mailprobe.invalid>',
  'X-Mailprobe-Id: test1',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=us-ascii',
  'Content-Transfer-Encoding: 7bit',
  '',
  'mailprobe sent this message to itself to check SMTP submission (probe test1).',
  'It is safe to delete.',
].map((expect) => ({ expect }));

function probe(script: ScriptStep[], options: { stepTimeoutMs?: number; ca?: string[] } = {}) {
  return runScripted(smtpProbe, 'smtp', script, { tls: 'starttls', ...options });
}

describe('smtp probe', () => {
  test('healthy Exchange submission: STARTTLS, two-step XOAUTH2, one message to itself, QUIT', async () => {
    const { outcome, server, transcript } = await probe([
      ...UNTIL_AUTH,
      ...ENVELOPE,
      ...MESSAGE,
      {
        expect: '.',
        reply: '250 2.0.0 OK <mailprobe.test1@mailprobe.invalid> [Hostname=AM0PR06MB1234.eurprd06.prod.outlook.com]\r\n',
      },
      { expect: 'QUIT', reply: '221 2.0.0 Service closing transmission channel\r\n' },
      { close: true },
    ]);
    assert.equal(outcome.ok, true, JSON.stringify(outcome.failure));
    assert.deepEqual(server.problems, []);
    assert.deepEqual(outcome.facts, { probeId: 'test1', messageId: '<mailprobe.test1@mailprobe.invalid>' });
    assert.deepEqual(
      outcome.steps.map((s) => s.step),
      ['connect', 'greeting', 'capability', 'starttls', 'auth', 'send', 'logout'],
    );
    assert.equal(server.received.filter((line) => line.startsWith('AUTH')).length, 1);
    const authAt = transcript.indexOf('C: AUTH XOAUTH2');
    assert.deepEqual(transcript.slice(authAt, authAt + 4), ['C: AUTH XOAUTH2', 'S: 334 ', 'C: [redacted]', 'S: 235 2.7.0 Authentication successful']);
  });

  test('rejected token: 535 5.7.3 with its Exchange bracket, at auth', async () => {
    const reply = '535 5.7.3 Authentication unsuccessful [AM0PR06CA0126.eurprd06.prod.outlook.com 2024-02-14T14:50:26.590Z 08DC2D372B4C3DED]';
    const { outcome, server } = await probe([...UNTIL_TLS, SECURE_EHLO, AUTH_READY, { expect: testXOAuth2(), reply: `${reply}\r\n` }]);
    assert.equal(outcome.failure?.stage, 'auth');
    assert.equal(outcome.failure?.reason, 'auth_failed');
    assert.equal(outcome.failure?.serverText, reply);
    assert.ok(!server.received.some((line) => line.startsWith('MAIL FROM')));
  });

  test('error challenge (334 with JSON): an empty line, then the final 535 is the failure', async () => {
    const { outcome, server } = await probe([
      ...UNTIL_TLS,
      SECURE_EHLO,
      AUTH_READY,
      { expect: testXOAuth2(), reply: '334 eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIn0=\r\n' },
      { expect: '', reply: '535 5.7.8 Error: authentication failed\r\n' },
    ]);
    assert.deepEqual(server.problems, []);
    assert.equal(outcome.failure?.stage, 'auth');
    assert.equal(outcome.failure?.reason, 'auth_failed');
    assert.equal(outcome.failure?.serverText, '535 5.7.8 Error: authentication failed');
  });

  test('no XOAUTH2 after STARTTLS: capability failure, no fallback to LOGIN or PLAIN', async () => {
    const { outcome, server } = await probe([...UNTIL_TLS, { expect: /EHLO \S+/, reply: ehlo('250-AUTH LOGIN PLAIN') }]);
    assert.ok(!server.received.some((line) => line.startsWith('AUTH')));
    assert.equal(outcome.failure?.stage, 'capability');
    assert.equal(outcome.failure?.reason, 'xoauth2_not_offered');
  });

  test('connection refused', async () => {
    const outcome = await smtpProbe(testContext({ protocol: 'smtp', port: await closedPort(), ca: [] }));
    assert.equal(outcome.failure?.stage, 'connect');
    assert.equal(outcome.failure?.reason, 'connect_refused');
    assert.equal(outcome.facts.probeId, 'test1');
  });

  test('no greeting after connect is cut by the step timeout at greeting', async () => {
    const { outcome } = await probe([{ hang: true }], { stepTimeoutMs: HANG_STEP_TIMEOUT_MS });
    assert.equal(outcome.failure?.stage, 'greeting');
    assert.equal(outcome.failure?.reason, 'timeout');
    assert.match(outcome.failure?.message ?? '', STEP_TIMED_OUT, 'the step timeout cut the hang');
  });

  test('reset while the message is being sent', async () => {
    const { outcome } = await probe([...UNTIL_AUTH, ...ENVELOPE, { expect: `From: <${TEST_MAILBOX}>` }, { reset: true }]);
    assert.equal(outcome.failure?.stage, 'send');
    assert.equal(outcome.failure?.reason, 'connection_reset');
  });

  test('STARTTLS certificate from a CA the endpoint does not trust', async () => {
    const { outcome, server } = await probe(UNTIL_TLS, { ca: [] });
    assert.equal(outcome.failure?.stage, 'starttls');
    assert.equal(outcome.failure?.reason, 'tls_untrusted');
    assert.ok(!server.received.some((line) => line.startsWith('AUTH')));
  });

  test('sender refused at MAIL FROM keeps the reply', async () => {
    const reply = '550 5.7.60 SMTP; Client does not have permissions to send as this sender';
    const { outcome } = await probe([
      ...UNTIL_AUTH,
      { expect: `MAIL FROM:<${TEST_MAILBOX}>`, reply: `${reply}\r\n` },
      { expect: `RCPT TO:<${TEST_MAILBOX}>`, reply: '503 5.5.2 Need mail command\r\n' },
      { expect: 'DATA', reply: '503 5.5.2 Need mail command\r\n' },
    ]);
    assert.equal(outcome.failure?.stage, 'send');
    assert.equal(outcome.failure?.reason, 'send_as_denied');
    assert.equal(outcome.failure?.serverText, reply);
  });
});

// The server ends the session itself (issue 21): the reply is written and the connection closed at once, so the
// close races the reply to the client; the reply must win.
describe('smtp probe: the server ends the session', () => {
  test('421 4.3.2 in answer to AUTH, then the close: the reply is the failure (MailKit #1106)', async () => {
    const reply = '421 4.3.2 Service not active [TYAPR01CA0229.jpnprd01.prod.outlook.com]';
    const { outcome, server } = await probe([...UNTIL_TLS, SECURE_EHLO, { expect: 'AUTH XOAUTH2', reply: `${reply}\r\n` }, { close: true }]);
    assert.deepEqual(server.problems, []);
    assert.equal(outcome.failure?.stage, 'auth');
    assertServerEnding(outcome, 'smtp', reply, 'server_unavailable');
  });

  test('432 4.3.2 Concurrent connections limit exceeded at MAIL FROM, then the close: throttled, with the back-off', async () => {
    const reply = '432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending';
    const { outcome } = await probe([...UNTIL_AUTH, { expect: `MAIL FROM:<${TEST_MAILBOX}>`, reply: `${reply}\r\n` }, { close: true }]);
    assert.equal(outcome.failure?.stage, 'send');
    assertServerEnding(outcome, 'smtp', reply, 'throttled');
  });
});
