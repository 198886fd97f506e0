import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SessionProtocol as Protocol } from '../../src/core/protocols.js';
import type { ProbeFn } from '../../src/probes/types.js';
import { imapProbe } from '../../src/probes/imap.js';
import { pop3Probe } from '../../src/probes/pop3.js';
import { smtpProbe } from '../../src/probes/smtp.js';
import { runScripted, testXOAuth2, TEST_TOKEN, type ScriptStep } from '../support/scripted-server.js';

// Servers that attack the client: endless and huge lines, binary garbage, silence, a close mid-AUTH, a missing
// STARTTLS and plaintext injected behind the STARTTLS answer. Every probe must fail at the right stage (with the
// reason its own limit gives, not the runner's deadline), keep its memory bounded, and never send a credential before TLS is verified.

const STEP_TIMEOUT_MS = 1500;
/**
 * The runner's deadline for a check in these tests: only a fallback, so far beyond what any case needs that a case's
 * own limit (answer cap, line limit, step timeout) ends it even on a loaded machine; inside the 60 s test timeout.
 */
const DEADLINE_MS = 45_000;
/** Peak growth of the process's memory while one check runs (the scripted server shares the process). */
const MEMORY_BOUND_BYTES = 64 * 1024 * 1024;
const HUGE_LINE_BYTES = 64 * 1024 * 1024;

interface ProtocolScripts {
  probe: ProbeFn;
  tls: 'implicit' | 'starttls';
  greeting: string;
  /** The client's first command after the greeting, and the stage it belongs to. */
  first: RegExp;
  firstStage: string;
  /** Steps from the greeting up to the client's XOAUTH2 initial response (exclusive). */
  untilAuth: ScriptStep[];
}

const tagged = (pattern: string, untagged: string[], status: string): ScriptStep => ({
  expect: new RegExp(`(\\S+) ${pattern}`),
  reply: (match) => [...untagged, `${match[1]} ${status}`].map((line) => `${line}\r\n`).join(''),
});

const SCRIPTS: Record<Protocol, ProtocolScripts> = {
  imap: {
    probe: imapProbe,
    tls: 'implicit',
    greeting: '* OK The Microsoft Exchange IMAP4 service is ready.\r\n',
    first: /(\S+) CAPABILITY/,
    firstStage: 'capability',
    untilAuth: [
      { send: '* OK The Microsoft Exchange IMAP4 service is ready.\r\n' },
      tagged('CAPABILITY', ['* CAPABILITY IMAP4rev1 AUTH=XOAUTH2 SASL-IR ID'], 'OK CAPABILITY completed.'),
    ],
  },
  pop3: {
    probe: pop3Probe,
    tls: 'implicit',
    greeting: '+OK The Microsoft Exchange POP3 service is ready.\r\n',
    first: /CAPA/,
    firstStage: 'capability',
    untilAuth: [
      { send: '+OK The Microsoft Exchange POP3 service is ready.\r\n' },
      { expect: 'CAPA', reply: '+OK\r\nUSER\r\nSASL XOAUTH2\r\n.\r\n' },
      { expect: 'AUTH XOAUTH2', reply: '+ \r\n' },
    ],
  },
  smtp: {
    probe: smtpProbe,
    tls: 'starttls',
    greeting: '220 outlook.office365.com Microsoft ESMTP MAIL Service ready\r\n',
    first: /EHLO \S+/,
    firstStage: 'capability',
    untilAuth: [
      { send: '220 outlook.office365.com Microsoft ESMTP MAIL Service ready\r\n' },
      { expect: /EHLO \S+/, reply: '250-outlook.office365.com Hello\r\n250 STARTTLS\r\n' },
      { expect: 'STARTTLS', reply: '220 2.0.0 SMTP server ready\r\n' },
      { startTls: true },
      { expect: /EHLO \S+/, reply: '250-outlook.office365.com Hello\r\n250 AUTH XOAUTH2\r\n' },
      { expect: 'AUTH XOAUTH2', reply: '334 \r\n' },
    ],
  },
};

/** Deterministic bytes of every value, with line ends sprinkled in, so the parser sees "lines" of garbage. */
function garbage(bytes: number): string {
  let state = 0x2545f491;
  let out = '';
  for (let i = 0; i < bytes; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    out += i % 97 === 96 ? '\r\n' : String.fromCharCode(state >>> 24);
  }
  return out;
}

interface Run {
  outcome: Awaited<ReturnType<ProbeFn>>;
  received: string[];
  peakGrowthBytes: number;
  elapsedMs: number;
}

/** Runs one probe against a script under a deadline, sampling the process's memory while it runs. */
async function attack(protocol: Protocol, script: ScriptStep[], options: { ca?: string[] } = {}): Promise<Run> {
  global.gc?.();
  const base = process.memoryUsage();
  const baseline = Math.max(base.rss, base.heapUsed + base.external);
  let peak = baseline;
  const sample = setInterval(() => {
    const now = process.memoryUsage();
    peak = Math.max(peak, now.rss, now.heapUsed + now.external);
  }, 5);
  const controller = new AbortController();
  const deadline = setTimeout(() => controller.abort(), DEADLINE_MS);
  const started = performance.now();
  try {
    const { outcome, server } = await runScripted(SCRIPTS[protocol].probe, protocol, script, {
      tls: SCRIPTS[protocol].tls,
      stepTimeoutMs: STEP_TIMEOUT_MS,
      signal: controller.signal,
      ...options,
    });
    return { outcome, received: server.received, peakGrowthBytes: peak - baseline, elapsedMs: performance.now() - started };
  } finally {
    clearInterval(sample);
    clearTimeout(deadline);
  }
}

function figures(run: Run): string {
  return `peak memory growth ${(run.peakGrowthBytes / 1048576).toFixed(1)} MiB, answered in ${Math.round(run.elapsedMs)} ms: ${run.outcome.failure?.stage ?? 'ok'} ${run.outcome.failure?.reason ?? ''}`;
}

function assertFailed(run: Run, stage: string, reasons: readonly string[]): void {
  assert.equal(run.outcome.ok, false, 'the probe must fail');
  assert.equal(run.outcome.failure?.stage, stage, JSON.stringify(run.outcome.failure));
  assert.ok(reasons.includes(run.outcome.failure?.reason ?? ''), `reason ${run.outcome.failure?.reason} not in ${reasons.join(', ')}`);
  assert.ok(run.peakGrowthBytes < MEMORY_BOUND_BYTES, `memory grew by ${(run.peakGrowthBytes / 1048576).toFixed(1)} MiB during the check`);
}

function assertNoCredentialSent(run: Run): void {
  for (const line of run.received) {
    assert.ok(!line.includes(testXOAuth2()) && !line.includes(TEST_TOKEN), `a credential reached the server: ${line.slice(0, 60)}`);
  }
}

for (const protocol of ['imap', 'pop3', 'smtp'] as const) {
  const scripts = SCRIPTS[protocol];
  describe(`hostile ${protocol} server`, () => {
    test('an endless greeting line', async (t) => {
      const run = await attack(protocol, [{ flood: 'A'.repeat(16 * 1024) }]);
      t.diagnostic(figures(run));
      assertFailed(run, 'greeting', ['protocol_error']);
      assertNoCredentialSent(run);
    });

    test(`a ${HUGE_LINE_BYTES / 1048576} MiB line after the greeting`, async (t) => {
      const run = await attack(protocol, [
        { send: scripts.greeting },
        { expect: scripts.first },
        { flood: 'B'.repeat(16 * 1024), bytes: HUGE_LINE_BYTES },
        { send: '\r\n' },
      ]);
      t.diagnostic(figures(run));
      assertFailed(run, scripts.firstStage, ['protocol_error']);
      assertNoCredentialSent(run);
    });

    test('binary garbage instead of a greeting', async (t) => {
      const run = await attack(protocol, [{ send: garbage(256 * 1024) }]);
      t.diagnostic(figures(run));
      assertFailed(run, 'greeting', ['protocol_error']);
      assertNoCredentialSent(run);
    });

    test('an endless flood of short lines after the greeting', async (t) => {
      const run = await attack(protocol, [{ send: scripts.greeting }, { expect: scripts.first }, { flood: '* X\r\n250-X\r\nX\r\n' }]);
      t.diagnostic(figures(run));
      assert.equal(run.outcome.ok, false);
      assert.equal(run.outcome.failure?.stage, scripts.firstStage);
      // Each line is fine on its own, so the watchdog sees traffic: the probe's own answer cap (or, for a reply
      // that never completes, the step timeout) must end it, not the runner's deadline.
      assert.doesNotMatch(run.outcome.failure?.message ?? '', /check deadline reached/);
      assert.ok(run.peakGrowthBytes < MEMORY_BOUND_BYTES, `memory grew by ${(run.peakGrowthBytes / 1048576).toFixed(1)} MiB`);
      assertNoCredentialSent(run);
    });

    test('silent after the greeting', async (t) => {
      const run = await attack(protocol, [{ send: scripts.greeting }, { hang: true }]);
      t.diagnostic(figures(run));
      assertFailed(run, scripts.firstStage, ['timeout']);
      assert.match(run.outcome.failure?.message ?? '', new RegExp(`no answer within ${STEP_TIMEOUT_MS} ms`), 'the step timeout ended it, not the deadline');
      assertNoCredentialSent(run);
    });

    test('the connection closed in the middle of AUTH', async (t) => {
      const run = await attack(protocol, [...scripts.untilAuth, { expect: /.*/ }, { close: true }]);
      t.diagnostic(figures(run));
      assertFailed(run, 'auth', ['connection_reset']);
    });

    test('a certificate the endpoint does not trust: no credential before TLS is verified', async (t) => {
      const run = await attack(protocol, scripts.untilAuth, { ca: [] });
      t.diagnostic(figures(run));
      assertFailed(run, protocol === 'smtp' ? 'starttls' : 'tls', ['tls_untrusted']);
      assertNoCredentialSent(run);
    });
  });
}

describe('hostile smtp server, STARTTLS', () => {
  test('no STARTTLS offered: fails at starttls, credentials never sent in the clear', async (t) => {
    const run = await attack('smtp', [
      { send: SCRIPTS.smtp.greeting },
      { expect: /EHLO \S+/, reply: '250-outlook.office365.com Hello\r\n250 AUTH XOAUTH2 PLAIN LOGIN\r\n' },
      { expect: 'STARTTLS', reply: '502 5.5.1 Unrecognized command\r\n' },
    ]);
    t.diagnostic(figures(run));
    assertFailed(run, 'starttls', ['starttls_unavailable']);
    assertNoCredentialSent(run);
  });

  test('plaintext injected behind the STARTTLS answer is not read as the server speaking over TLS', async (t) => {
    const run = await attack('smtp', [
      { send: SCRIPTS.smtp.greeting },
      { expect: /EHLO \S+/, reply: '250-outlook.office365.com Hello\r\n250 STARTTLS\r\n' },
      // One write: the 220 and, behind it, lines that would pose as the answer to the EHLO sent over TLS.
      { expect: 'STARTTLS', reply: '220 2.0.0 SMTP server ready\r\n250-injected Hello\r\n250 AUTH PLAIN\r\n' },
      { startTls: true },
      { expect: /EHLO \S+/, reply: '250-outlook.office365.com Hello\r\n250 AUTH XOAUTH2\r\n' },
      { expect: 'AUTH XOAUTH2', reply: '334 \r\n' },
      { expect: /.*/, reply: '535 5.7.3 Authentication unsuccessful\r\n' },
    ]);
    t.diagnostic(figures(run));
    // Either the client refuses the injection outright, or it ignores it and talks to the real TLS server;
    // what it must never do is take "AUTH PLAIN" from the plaintext as the server's offer.
    assert.equal(run.outcome.ok, false);
    assert.notEqual(run.outcome.failure?.reason, 'xoauth2_not_offered', JSON.stringify(run.outcome.failure));
    assert.ok(run.peakGrowthBytes < MEMORY_BOUND_BYTES);
    const beforeTls = run.received.slice(0, run.received.indexOf('STARTTLS') + 1);
    for (const line of beforeTls) assert.ok(!line.includes(testXOAuth2()), 'no credential before TLS');
  });
});
