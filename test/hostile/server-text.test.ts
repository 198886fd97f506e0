import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SessionProtocol as Protocol } from '../../src/core/protocols.js';
import { imapProbe } from '../../src/probes/imap.js';
import { pop3Probe } from '../../src/probes/pop3.js';
import { smtpProbe } from '../../src/probes/smtp.js';
import type { ProbeFn } from '../../src/probes/types.js';
import { maskOutcome, MESSAGE_MAX, SERVER_TEXT_MAX } from '../../src/runner/mask.js';
import { runScripted, type ScriptStep } from '../support/scripted-server.js';

// Issue 25 row 5: server text had no length limit. A tagged IMAP NO reached 320,039 characters and went, per
// failure, into the history, a log line, the alert state and every webhook body. The bound applies where the
// text enters a result (the runner's mask), whatever the protocol. Each refusal here is as long as the
// protocol's line reader lets through (IMAP 64 KiB, POP3 8 KiB lines; SMTP has no line limit of its own).

const long = (characters: number): string => `Authentication failed. ${'x'.repeat(characters)} END`;

const REFUSALS: Record<Protocol, { probe: ProbeFn; tls: 'implicit' | 'starttls'; script: ScriptStep[] }> = {
  imap: {
    probe: imapProbe,
    tls: 'implicit',
    script: [
      { send: '* OK The Microsoft Exchange IMAP4 service is ready.\r\n' },
      { expect: /(\S+) CAPABILITY/, reply: (m) => `* CAPABILITY IMAP4rev1 AUTH=XOAUTH2 SASL-IR\r\n${m[1]} OK CAPABILITY completed.\r\n` },
      { expect: /(\S+) AUTHENTICATE XOAUTH2.*/, reply: (m) => `${m[1]} NO ${long(60_000)}\r\n` },
    ],
  },
  pop3: {
    probe: pop3Probe,
    tls: 'implicit',
    script: [
      { send: '+OK The Microsoft Exchange POP3 service is ready.\r\n' },
      { expect: 'CAPA', reply: '+OK\r\nUSER\r\nSASL XOAUTH2\r\n.\r\n' },
      { expect: 'AUTH XOAUTH2', reply: '+ \r\n' },
      { expect: /.*/, reply: `-ERR ${long(8_000)}\r\n` },
    ],
  },
  smtp: {
    probe: smtpProbe,
    tls: 'starttls',
    script: [
      { send: '220 outlook.office365.com Microsoft ESMTP MAIL Service ready\r\n' },
      { expect: /EHLO \S+/, reply: '250-outlook.office365.com Hello\r\n250 STARTTLS\r\n' },
      { expect: 'STARTTLS', reply: '220 2.0.0 SMTP server ready\r\n' },
      { startTls: true },
      { expect: /EHLO \S+/, reply: '250-outlook.office365.com Hello\r\n250 AUTH XOAUTH2\r\n' },
      { expect: 'AUTH XOAUTH2', reply: '334 \r\n' },
      { expect: /.*/, reply: `535 5.7.3 ${long(320_000)}\r\n` },
    ],
  },
};

describe('a server refusing at length', () => {
  for (const [protocol, refusal] of Object.entries(REFUSALS) as Array<[Protocol, (typeof REFUSALS)[Protocol]]>) {
    test(`${protocol}: the result keeps at most ${SERVER_TEXT_MAX} characters of a long refusal, cut with an ellipsis`, async () => {
      const { outcome } = await runScripted(refusal.probe, protocol, refusal.script, { tls: refusal.tls, stepTimeoutMs: 5_000 });
      assert.equal(outcome.ok, false);
      const kept = maskOutcome(outcome, (text) => text).failure;
      assert.ok(outcome.failure?.serverText?.includes(' END'), 'the probe read the whole refusal');
      assert.match(kept?.serverText ?? '', /Authentication failed\. x/);
      assert.ok((kept?.serverText?.length ?? 0) <= SERVER_TEXT_MAX, `serverText is ${kept?.serverText?.length} characters`);
      assert.ok(kept?.serverText?.endsWith('…'));
      assert.ok((kept?.message.length ?? 0) <= MESSAGE_MAX, `message is ${kept?.message.length} characters`);
    });
  }
});
