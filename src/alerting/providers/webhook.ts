import type { Alert } from '../alert.js';
import { isoTime } from './text.js';
import { asConfigured, type Provider } from './types.js';

/** Body version; bumped only when a field changes meaning or disappears, never for an added field. */
export const WEBHOOK_BODY_VERSION = 1;

// Absent values are null rather than missing, so receivers can rely on one shape.
export function buildWebhookBody(alert: Alert): object {
  return {
    version: WEBHOOK_BODY_VERSION,
    status: alert.status,
    event: alert.event,
    fingerprint: alert.fingerprint,
    monitor: alert.monitor,
    tenant: alert.tenant,
    mailbox: alert.mailbox,
    check: alert.check,
    // A tenant-wide alert stands for every listed mailbox; monitor, mailbox and check name the check that spoke.
    scope: alert.mailboxes ? 'tenant' : 'check',
    mailboxes: alert.mailboxes ?? null,
    stage: alert.stage,
    reason: alert.reason,
    category: alert.category,
    previousReason: alert.previous?.reason ?? null,
    cause: alert.cause ?? null,
    previousCause: alert.previous?.cause ?? null,
    summary: alert.summary,
    serverText: alert.serverText ?? null,
    detail: alert.detail ?? null,
    fixes: alert.fixes,
    startedAt: isoTime(alert.startedAt),
    endedAt: alert.endedAt === undefined ? null : isoTime(alert.endedAt),
  };
}

export const webhookProvider: Provider<'webhook'> = {
  buildBody: buildWebhookBody,
  endpoint: asConfigured,
};
