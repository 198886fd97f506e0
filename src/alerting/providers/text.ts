import { plainCause } from '../../core/cause.js';
import type { Alert, AlertEvent } from '../alert.js';

// Wording shared by the chat providers (Teams, Slack), so both say the same thing about the same alert.

const EVENT_WORDS: Record<AlertEvent, string> = {
  firing: 'FIRING',
  reason_changed: 'FIRING (new reason)',
  repeat: 'STILL FIRING',
  resolved: 'RESOLVED',
};

/** "FIRING: probe-contoso imap (auth_failed)"; tenant-wide: "FIRING: tenant contoso, 3 mailboxes (tenant_external_limit)" */
export function headline(alert: Alert): string {
  const what = alert.mailboxes
    ? `tenant ${alert.tenant}, ${alert.mailboxes.length} mailbox${alert.mailboxes.length === 1 ? '' : 'es'}`
    : `${alert.monitor} ${alert.check}`;
  const event = alert.previous && alert.previous.reason === alert.reason ? 'FIRING (new cause)' : EVENT_WORDS[alert.event];
  return `${event}: ${what} (${alert.reason})`;
}

/** "Cause: mailbox (was protocol:imap). The problem is the mailbox itself: …"; undefined when the alert has none. */
export function causeLine(alert: Alert): string | undefined {
  if (alert.cause === undefined) return undefined;
  const was = alert.previous?.cause !== undefined && alert.previous.cause !== alert.cause ? ` (was ${alert.previous.cause})` : '';
  return `Cause: ${alert.cause}${was}. ${plainCause(alert.cause)}`;
}

export function isoTime(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/** Label/value pairs every chat card shows, in reading order. */
export function factsOf(alert: Alert): Array<readonly [string, string]> {
  const where: Array<readonly [string, string]> = alert.mailboxes
    ? [
        ['Tenant', alert.tenant],
        ['Mailboxes', alert.mailboxes.join(', ')],
      ]
    : [
        ['Monitor', alert.monitor],
        ['Tenant', alert.tenant],
        ['Mailbox', alert.mailbox],
        ['Check', alert.check],
      ];
  return [
    ...where,
    ['Stage', alert.stage],
    ['Reason', alert.previous ? `${alert.reason} (was ${alert.previous.reason})` : alert.reason],
    ['Category', alert.category],
    ...(alert.detail !== undefined ? [['Detail', alert.detail] as const] : []),
    ['Failing since', isoTime(alert.startedAt)],
    ...(alert.endedAt !== undefined ? [['Resolved at', isoTime(alert.endedAt)] as const] : []),
  ];
}
