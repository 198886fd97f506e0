import type { Alert } from '../alert.js';
import { truncate } from '../../core/text.js';
import { factsOf, headline } from './text.js';
import { asConfigured, type Provider } from './types.js';

// Both Teams receivers (Workflows "post to a channel when a webhook request is received" and the older
// Office 365 connector) accept this envelope; 1.4 is the newest card version every Teams client renders.
export function buildTeamsBody(alert: Alert): object {
  const firing = alert.status === 'firing';
  const body: object[] = [
    { type: 'TextBlock', text: headline(alert), weight: 'Bolder', size: 'Medium', color: firing ? 'Attention' : 'Good', wrap: true },
    { type: 'TextBlock', text: alert.summary, wrap: true },
    { type: 'FactSet', facts: factsOf(alert).map(([title, value]) => ({ title, value })) },
  ];
  if (alert.serverText !== undefined) {
    body.push(
      { type: 'TextBlock', text: 'Server said', weight: 'Bolder', wrap: true },
      { type: 'TextBlock', text: truncate(alert.serverText, 2000), fontType: 'Monospace', wrap: true },
    );
  }
  if (firing && alert.fixes.length > 0) {
    body.push(
      { type: 'TextBlock', text: 'How to fix', weight: 'Bolder', wrap: true },
      ...alert.fixes.map((fix) => ({ type: 'TextBlock', text: truncate(fix, 2000), wrap: true, spacing: 'Small' })),
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
