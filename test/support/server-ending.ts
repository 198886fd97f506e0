import assert from 'node:assert/strict';
import type { Protocol } from '../../src/core/check.js';
import type { ProbeOutcome } from '../../src/core/outcome.js';
import { diagnose } from '../../src/diagnose/diagnose.js';

const MONITOR = {
  name: 'm',
  mailbox: 'probe@contoso.example',
  tenantId: '9b62d4ed-1234-1234-b00d-341a1bd0b3f5',
  clientId: '10e1f456-3921-1234-1234-105af0774c61',
};

/**
 * A server that ends the session itself (docs/exchange-online-errors.md): its reply, not the close after it, is the
 * failure's words; the reason is the server's own doing; the fix says retry and back off, never firewall, never a
 * mailprobe bug, never a permission.
 */
export function assertServerEnding(outcome: ProbeOutcome, protocol: Protocol, words: string, reason: 'server_unavailable' | 'throttled'): void {
  assert.equal(outcome.ok, false);
  const failure = outcome.failure;
  assert.equal(failure?.serverText, words, JSON.stringify(failure));
  assert.equal(failure?.reason, reason);
  const diagnosis = diagnose({ reason, stage: failure.stage, protocol, serverText: words, monitor: MONITOR, now: 0 });
  const text = [diagnosis.summary, ...diagnosis.candidates, ...diagnosis.fixes].join('\n');
  assert.match(diagnosis.fixes.join('\n'), /Retry with back-off|Wait \d+ ms/);
  assert.doesNotMatch(text, /firewall|mailprobe bug|Add-MailboxPermission|admin consent/i);
}
