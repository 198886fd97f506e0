import type { NotifierType } from '../config/alerting.js';
import { escapeMrkdwn } from '../core/escape.js';
import { truncate } from '../core/text.js';
import { digestFacts, digestTitle, footerLine, incidentLine, worstLine, type MonthlyDigest } from './digest.js';

// One body builder per notifier type that takes a report. Alertmanager is left out on purpose: it routes alerts
// by label set and would hold a "report" as a firing alert until resolve_timeout; the config refuses it by name.

export type SummaryNotifierType = Exclude<NotifierType, 'alertmanager'>;

export function takesSummary(type: NotifierType): type is SummaryNotifierType {
  return type !== 'alertmanager';
}

/** Webhook body version for kind "monthly_summary"; bumped only when a field changes meaning or disappears. */
export const SUMMARY_WEBHOOK_VERSION = 1;

export function summaryWebhookBody(digest: MonthlyDigest): object {
  return { version: SUMMARY_WEBHOOK_VERSION, kind: 'monthly_summary', ...digest };
}

export function summaryTeamsBody(digest: MonthlyDigest): object {
  const missed = digest.sloMissed > 0;
  const body: object[] = [
    { type: 'TextBlock', text: digestTitle(digest), weight: 'Bolder', size: 'Medium', color: missed ? 'Attention' : 'Good', wrap: true },
    { type: 'FactSet', facts: digestFacts(digest).map(([title, value]) => ({ title, value })) },
  ];
  if (digest.worst.length > 0) {
    body.push({ type: 'TextBlock', text: 'Worst checks', weight: 'Bolder', wrap: true });
    for (const check of digest.worst) body.push({ type: 'TextBlock', text: truncate(worstLine(check), 2000), wrap: true, spacing: 'Small' });
    if (digest.worstLeftOut > 0) body.push({ type: 'TextBlock', text: `… and ${digest.worstLeftOut} more`, wrap: true, spacing: 'Small', isSubtle: true });
  }
  if (digest.incidents.length > 0) {
    body.push({ type: 'TextBlock', text: 'Longest outages', weight: 'Bolder', wrap: true });
    for (const incident of digest.incidents) {
      body.push(
        { type: 'TextBlock', text: truncate(incidentLine(incident, digest.timeZone), 2000), wrap: true, spacing: 'Small' },
        { type: 'TextBlock', text: truncate(`Fix: ${incident.fix}`, 2000), wrap: true, spacing: 'None', isSubtle: true },
      );
    }
    if (digest.incidentsLeftOut > 0)
      body.push({ type: 'TextBlock', text: `… and ${digest.incidentsLeftOut} more`, wrap: true, spacing: 'Small', isSubtle: true });
  }
  body.push({ type: 'TextBlock', text: footerLine(digest), wrap: true, isSubtle: true, fontType: 'Monospace' });
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: { $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4', msteams: { width: 'Full' }, body },
      },
    ],
  };
}

// Slack's limits, as for alerts: header 150 characters, section text 3000, ten fields.
export function summarySlackBody(digest: MonthlyDigest): object {
  const title = digestTitle(digest);
  const blocks: object[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(title, 150) } },
    { type: 'section', fields: digestFacts(digest).map(([label, value]) => ({ type: 'mrkdwn', text: `*${label}*\n${escapeMrkdwn(value)}` })) },
  ];
  const list = (heading: string, lines: string[], leftOut: number): void => {
    if (lines.length === 0) return;
    const more = leftOut > 0 ? `\n… and ${leftOut} more` : '';
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(`*${heading}*\n${lines.join('\n')}${more}`, 3000) } });
  };
  list(
    'Worst checks',
    digest.worst.map((check) => `• ${escapeMrkdwn(worstLine(check))}`),
    digest.worstLeftOut,
  );
  list(
    'Longest outages',
    digest.incidents.map((incident) => `• ${escapeMrkdwn(incidentLine(incident, digest.timeZone))}\n   _Fix:_ ${escapeMrkdwn(incident.fix)}`),
    digest.incidentsLeftOut,
  );
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: escapeMrkdwn(footerLine(digest)) }] });
  return { text: escapeMrkdwn(`${title}; SLO missed ${digest.sloMissed}, ${digest.outages} outages`), blocks };
}

/** The one map from notifier type to summary body; the mapped type makes a missing entry a compile error. */
export const SUMMARY_BODIES: { readonly [T in SummaryNotifierType]: (digest: MonthlyDigest) => object } = {
  webhook: summaryWebhookBody,
  teams: summaryTeamsBody,
  slack: summarySlackBody,
};
