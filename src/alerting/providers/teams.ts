import type { Alert } from '../alert.js';
import { escapeMarkdown } from '../../core/escape.js';
import { truncate } from '../../core/text.js';
import { causeLine, factsOf, headline } from './text.js';
import { asConfigured, type Provider } from './types.js';

// Teams renders every TextBlock and fact as Markdown: a server's "[click here](https://…)" would become a link,
// so every text is escaped (md), after it is cut, so the cut never splits an escape.
const md = (text: string, max = 2000): string => escapeMarkdown(truncate(text, max));

// Both Teams receivers (Workflows "post to a channel when a webhook request is received" and the older
// Office 365 connector) accept this envelope; 1.4 is the newest card version every Teams client renders.
export function buildTeamsBody(alert: Alert): object {
  const firing = alert.status === 'firing';
  const cause = causeLine(alert);
  const body: object[] = [
    { type: 'TextBlock', text: md(headline(alert)), weight: 'Bolder', size: 'Medium', color: firing ? 'Attention' : 'Good', wrap: true },
    { type: 'TextBlock', text: md(alert.summary), wrap: true },
    ...(cause !== undefined ? [{ type: 'TextBlock', text: md(cause), wrap: true }] : []),
    { type: 'FactSet', facts: factsOf(alert).map(([title, value]) => ({ title: md(title), value: md(value) })) },
  ];
  if (alert.serverText !== undefined) {
    body.push(
      { type: 'TextBlock', text: 'Server said', weight: 'Bolder', wrap: true },
      { type: 'TextBlock', text: md(alert.serverText), fontType: 'Monospace', wrap: true },
    );
  }
  if (firing && alert.fixes.length > 0) {
    body.push(
      { type: 'TextBlock', text: 'How to fix', weight: 'Bolder', wrap: true },
      ...alert.fixes.map((fix) => ({ type: 'TextBlock', text: md(fix), wrap: true, spacing: 'Small' })),
    );
  }
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          msteams: { width: 'Full' },
          body,
        },
      },
    ],
  };
}

export const teamsProvider: Provider<'teams'> = {
  buildBody: buildTeamsBody,
  endpoint: asConfigured,
};
