import { imapProbe } from './imap.js';
import { pop3Probe } from './pop3.js';
import { smtpProbe } from './smtp.js';
import type { CheckKind, ProbeFn } from './types.js';

/** The one map from check kind to probe. roundtrip joins it when its probe exists. */
export const PROBES = { imap: imapProbe, smtp: smtpProbe, pop3: pop3Probe } satisfies Partial<Record<CheckKind, ProbeFn>>;

/** The Exchange Online application roles (token `roles` claim) each check needs, all of them. */
export const REQUIRED_ROLE: Record<CheckKind, readonly string[]> = {
  imap: ['IMAP.AccessAsApp'],
  pop3: ['POP.AccessAsApp'],
  smtp: ['SMTP.SendAsApp'],
  // Sends over SMTP, then finds and deletes the message over IMAP.
  roundtrip: ['SMTP.SendAsApp', 'IMAP.AccessAsApp'],
};
