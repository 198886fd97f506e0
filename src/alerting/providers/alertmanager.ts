import { plainCause, type Cause } from '../../core/cause.js';
import type { ReasonCategory, ReasonCode } from '../../core/reasons.js';
import type { Alert } from '../alert.js';
import { ALERTING_DEFAULTS, type NotifierOf } from '../../config/alerting.js';
import { isoTime } from './text.js';
import type { Provider } from './types.js';

// Distinct from the Prometheus rules' alert names, so routing on alertname never mixes the agent's own alert
// (any reason, severity as configured) with MailprobeCheckFailing (non-auth failures, warning).
export const ALERT_NAME = 'MailprobeAgentCheckAlert';
const ALERTS_PATH = '/api/v2/alerts';

/** The configured URL is Alertmanager's base (possibly behind a path prefix); the full path is accepted too. */
export function alertsEndpoint(base: URL): URL {
  const url = new URL(base.href);
  const path = url.pathname.replace(/\/+$/, '');
  if (!path.endsWith(ALERTS_PATH)) url.pathname = `${path}${ALERTS_PATH}`;
  return url;
}

type Settings = Pick<NotifierOf<'alertmanager'>, 'severity' | 'generatorURL'>;

function postable(alert: Alert, settings: Settings, reason: { reason: ReasonCode; category: ReasonCategory; cause?: Cause }, endsAt?: number): object {
  const said = alert.serverText === undefined ? '' : `\nServer said: ${alert.serverText}`;
  const cause = reason.cause === undefined ? '' : `\nCause: ${reason.cause}. ${plainCause(reason.cause)}`;
  // A tenant-wide alert is one label set per (tenant, reason); its mailboxes, unbounded, go in an annotation.
  const where = alert.mailboxes
    ? {
        labels: { tenant: alert.tenant },
        description: `The tenant ${alert.tenant} is blocked for ${alert.mailboxes.length} mailbox(es) at the ${alert.stage} stage: ${reason.reason}.`,
        annotations: { mailboxes: alert.mailboxes.join('\n') },
      }
    : {
        labels: { monitor: alert.monitor, tenant: alert.tenant, mailbox: alert.mailbox, check: alert.check },
        description: `The ${alert.check} check of ${alert.mailbox} (monitor ${alert.monitor}) fails at the ${alert.stage} stage: ${reason.reason}.`,
        annotations: {},
      };
  return {
    labels: {
      alertname: ALERT_NAME,
      ...where.labels,
      reason: reason.reason,
      category: reason.category,
      // A bounded code that changes only with the checks' states; a change ends the old label set like a new reason.
      ...(reason.cause !== undefined ? { cause: reason.cause } : {}),
      severity: settings.severity ?? ALERTING_DEFAULTS.severity,
    },
    annotations: {
      summary: alert.summary,
      description: `${where.description}${cause}${said}`,
      ...where.annotations,
      fix: alert.fixes.join('\n'),
      ...(alert.detail !== undefined ? { detail: alert.detail } : {}),
    },
    startsAt: isoTime(alert.startedAt),
    ...(endsAt !== undefined ? { endsAt: isoTime(endsAt) } : {}),
    ...(settings.generatorURL ? { generatorURL: settings.generatorURL } : {}),
  };
}

// Alertmanager identifies an alert by its label set, and reason and cause are labels: on a change the old label
// set is ended explicitly, or it would linger as a second firing alert until resolve_timeout. A firing alert
// carries no endsAt, so Alertmanager keeps it for resolve_timeout after the last post; the notifier re-posts.
export function buildAlertmanagerBody(alert: Alert, settings: Settings): object[] {
  const current = postable(alert, settings, alert, alert.endedAt);
  if (!alert.previous) return [current];
  return [postable(alert, settings, alert.previous, alert.previous.endedAt), current];
}

export const alertmanagerProvider: Provider<'alertmanager'> = {
  buildBody: buildAlertmanagerBody,
  endpoint: alertsEndpoint,
};
