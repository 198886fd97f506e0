import type { Protocol, Stage } from '../core/check.js';
import type { ReasonCode } from '../core/reasons.js';

// Exchange appends `[<backend FQDN> <ISO-8601 UTC> <16-hex id>]`, older replies `[FQDN]`, submission
// replies `[Hostname=…]`. The bracket changes on every reply, so it is removed before matching and before
// the text is used as anything but a log line. An IP literal (`Hello [10.0.0.1]`) is not such a bracket.
const trailingBracket = /\s*\[(?:Hostname=)?(?![\d.]+\])[A-Za-z0-9.\-…]+(?:\s+\d{4}-\d{2}-\d{2}T[\d:.]+Z\s+[0-9A-Fa-f]{16})?\]\s*$/;

export function stripExchangeBracket(text: string): string {
  return text
    .split(/\r?\n/)
    .map((line) => line.replace(trailingBracket, ''))
    .join('\n');
}

interface ReplyRule {
  protocols: readonly Protocol[];
  /** Absent: the text means the same at every stage. */
  stages?: readonly Stage[];
  pattern: RegExp;
  reason: ReasonCode;
}

const ALL: readonly Protocol[] = ['imap', 'pop3', 'smtp'];
const IMAP: readonly Protocol[] = ['imap'];
const POP3: readonly Protocol[] = ['pop3'];
const SMTP: readonly Protocol[] = ['smtp'];

// Ordered: the first matching row wins, so specific texts sit above the codes they share
// (5.7.139 variants, SubmissionQuotaExceeded before QuotaExceeded). Sources: docs/exchange-online-errors.md, "IMAP", "POP3" and "SMTP".
const replyRules: readonly ReplyRule[] = [
  { protocols: ALL, pattern: /Request is throttled/i, reason: 'throttled' },
  // Too many sessions at once, in Exchange's words and in Dovecot's ("Maximum number of connections from user+IP").
  { protocols: ALL, pattern: /Concurrent connections limit exceeded|Maximum number of connections|too many connections/i, reason: 'throttled' },

  // IMAP (§3)
  { protocols: IMAP, pattern: /User is authenticated but not connected/i, reason: 'auth_not_connected' },
  { protocols: IMAP, pattern: /\bNO Server Unavailable\b/i, reason: 'server_unavailable' },
  { protocols: IMAP, pattern: /\[UNAVAILABLE\]/i, reason: 'server_unavailable' },
  { protocols: IMAP, pattern: /\bAUTHENTICATE failed\b/i, reason: 'auth_failed' },
  { protocols: IMAP, pattern: /\[AUTHENTICATIONFAILED\]/i, reason: 'auth_failed' },
  { protocols: IMAP, pattern: /\bBAD Command (?:Argument )?Error\b/i, reason: 'protocol_error' },
  // An untagged BYE ends the session from the server's side (RFC 9051 7.1.5): unavailable or shutting down.
  { protocols: IMAP, pattern: /^(?:\* )?BYE\b/im, reason: 'server_unavailable' },

  // POP3 (§4)
  { protocols: POP3, pattern: /-ERR Protocol error\. Connection is closed/i, reason: 'protocol_error' },
  { protocols: POP3, pattern: /-ERR Logon failure: unknown user name or bad password/i, reason: 'auth_failed' },
  { protocols: POP3, pattern: /-ERR Authentication failure/i, reason: 'auth_failed' },
  { protocols: POP3, pattern: /-ERR \[AUTH\]/i, reason: 'auth_failed' },
  { protocols: POP3, pattern: /-ERR Server Unavailable\b|-ERR \[SYS\/TEMP\]|-ERR \[IN-USE\]/i, reason: 'server_unavailable' },
  // Before any command, or after a login that worked, an -ERR is the server ending the session, not a refusal.
  { protocols: POP3, stages: ['greeting'], pattern: /^-ERR\b/, reason: 'server_unavailable' },
  { protocols: POP3, stages: ['stat'], pattern: /denied|permission|not authori[sz]ed/i, reason: 'list_failed' },
  { protocols: POP3, stages: ['stat', 'logout'], pattern: /^-ERR\b/, reason: 'server_unavailable' },

  // SMTP (§5)
  { protocols: SMTP, pattern: /\b4\.7\.66\b/, reason: 'tls_version_rejected' },
  { protocols: SMTP, pattern: /\b5\.7\.4\b|Unrecognized authentication type/i, reason: 'auth_mechanism_rejected' },
  { protocols: SMTP, pattern: /SmtpClientAuthentication is disabled for the Tenant/i, reason: 'smtp_auth_disabled_tenant' },
  { protocols: SMTP, pattern: /SmtpClientAuthentication is disabled for the Mailbox/i, reason: 'smtp_auth_disabled_mailbox' },
  { protocols: SMTP, pattern: /did not meet the criteria to be authenticated|security defaults/i, reason: 'smtp_auth_policy_blocked' },
  { protocols: SMTP, pattern: /basic authentication is disabled|user credentials were incorrect|\b5\.7\.30\b/i, reason: 'basic_auth_rejected' },
  // §10: the tenant's daily limit for external recipients (5.7.232 trial tenants, 5.7.233): every mailbox at once.
  { protocols: SMTP, pattern: /\b5\.7\.23[23]\b/, reason: 'tenant_external_limit' },
  { protocols: SMTP, pattern: /\b5\.5\.105\b|External sending is not supported for High Volume Email/i, reason: 'hve_external_recipient' },
  { protocols: SMTP, pattern: /\b5\.7\.3\b/, reason: 'auth_failed' },
  { protocols: SMTP, pattern: /\b535[ -]5\.7\.8\b/, reason: 'auth_failed' },
  { protocols: SMTP, pattern: /\b5\.5\.124\b/, reason: 'invalid_user' },
  { protocols: SMTP, pattern: /\b5\.7\.57\b/, reason: 'not_authenticated' },
  { protocols: SMTP, pattern: /\b5\.7\.60\b|\b5\.2\.252\b|SendAsDenied/i, reason: 'send_as_denied' },
  { protocols: SMTP, pattern: /MapiExceptionLogonFailed|mailbox logon failure/i, reason: 'mailbox_logon_failed' },
  // 421 closes the channel (RFC 5321 3.8): the service is unavailable or shutting down, whatever the enhanced code.
  { protocols: SMTP, pattern: /^421[ -]/m, reason: 'server_unavailable' },
  { protocols: SMTP, pattern: /\b4\.3\.2\b/, reason: 'throttled' },
  { protocols: SMTP, pattern: /SubmissionQuotaExceededException/i, reason: 'submission_quota_exceeded' },
  { protocols: SMTP, pattern: /QuotaExceededException|\b5\.2\.2 mailbox full\b/i, reason: 'mailbox_full' },
  { protocols: SMTP, pattern: /\b4\.3\.111\b|\b4\.7\.0 Temporary server error\b/i, reason: 'server_unavailable' },
  { protocols: SMTP, pattern: /\b5\.1\.8\b|OutboundSpamException/i, reason: 'sender_restricted' },
  { protocols: SMTP, pattern: /\b500[ -]5\.3\.3\b/, reason: 'protocol_error' },
];

function smtpClass(text: string): '4' | '5' | undefined {
  const match = /^([45])\d\d(?:[ -]|$)/m.exec(text);
  return match?.[1] === '4' || match?.[1] === '5' ? match[1] : undefined;
}

function fallbackReason(stage: Stage, text: string): ReasonCode {
  if (stage === 'auth') return 'auth_failed';
  // POP3 STAT is the POP equivalent of the IMAP LIST step.
  if (stage === 'list' || stage === 'stat') return 'list_failed';
  if (stage === 'send') {
    const cls = smtpClass(text);
    if (cls === '4') return 'server_unavailable';
    if (cls === '5') return 'send_rejected';
  }
  return 'protocol_error';
}

/** Maps a server's rejection (the reply line(s) it sent) to a reason; never free text. */
export function reasonForReply(protocol: Protocol, stage: Stage, text: string): ReasonCode {
  const stripped = stripExchangeBracket(text);
  for (const rule of replyRules) {
    if (!rule.protocols.includes(protocol)) continue;
    if (rule.stages && !rule.stages.includes(stage)) continue;
    if (rule.pattern.test(stripped)) return rule.reason;
  }
  return fallbackReason(stage, stripped);
}

/** `Suggested Backoff Time: N milliseconds` (EXO IMAP/POP throttling) → N. */
export function parseBackoffMs(text: string): number | undefined {
  const match = /Suggested Backoff Time:\s*(\d+)\s*milliseconds/i.exec(text);
  if (!match?.[1]) return undefined;
  const ms = Number(match[1]);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** SMTP `432 4.3.2` (sender thread limit) names no delay; a minute lets the other submissions finish. */
export const SMTP_THREAD_LIMIT_BACKOFF_MS = 60_000;

/** An HTTP API's `Retry-After: N` (seconds), as the Graph client keeps it with the answer's words → N s. */
function retryAfterHeaderMs(text: string): number | undefined {
  const seconds = /\(Retry-After: (\d{1,9})\)$/.exec(text)?.[1];
  return seconds === undefined ? undefined : Number(seconds) * 1000;
}

/** How long the server asked us to wait before trying again, if its reply says so. */
export function backoffMsForReply(text: string): number | undefined {
  const stated = parseBackoffMs(text) ?? retryAfterHeaderMs(text);
  if (stated !== undefined) return stated;
  if (/\b4\.3\.2\b/.test(stripExchangeBracket(text))) return SMTP_THREAD_LIMIT_BACKOFF_MS;
  return undefined;
}
