import type { Alert } from '../alert.js';
import { escapeMrkdwn } from '../../core/escape.js';
import { truncate } from '../../core/text.js';
import { causeLine, factsOf, headline } from './text.js';
import { asConfigured, type Provider } from './types.js';

// Slack's documented limits: header text 150 characters, section text 3000, a field 2000, ten fields (factsOf
// gives at most nine).
const HEADER_MAX = 150;
const SECTION_MAX = 3000;

export function buildSlackBody(alert: Alert): object {
  const cause = causeLine(alert);
  const blocks: object[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(headline(alert), HEADER_MAX) } },
    { type: 'section', text: { type: 'mrkdwn', text: truncate(escapeMrkdwn(alert.summary), SECTION_MAX) } },
    ...(cause !== undefined ? [{ type: 'section', text: { type: 'mrkdwn', text: truncate(escapeMrkdwn(cause), SECTION_MAX) } }] : []),
    { type: 'section', fields: factsOf(alert).map(([title, value]) => ({ type: 'mrkdwn', text: `*${title}*\n${escapeMrkdwn(value)}` })) },
  ];
  if (alert.serverText !== undefined) {
    // Cut inside the code block, so the closing fence survives.
    const said = truncate(escapeMrkdwn(alert.serverText.replace(/`{3}/g, "'''")), SECTION_MAX - 32);
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Server said*\n\`\`\`${said}\`\`\`` } });
  }
  if (alert.status === 'firing' && alert.fixes.length > 0) {
    const fixes = `*How to fix*\n${alert.fixes.map((fix) => `• ${escapeMrkdwn(fix)}`).join('\n')}`;
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(fixes, SECTION_MAX) } });
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `mailprobe · fingerprint ${alert.fingerprint}` }] });
  // `text` is what notifications, screen readers and clients without Block Kit show.
  return { text: escapeMrkdwn(`${headline(alert)}: ${alert.summary}`), blocks };
}

export const slackProvider: Provider<'slack'> = {
  buildBody: buildSlackBody,
  endpoint: asConfigured,
};
