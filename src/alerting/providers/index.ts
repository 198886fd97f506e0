import type { NotifierType } from '../../config/alerting.js';
import { alertmanagerProvider } from './alertmanager.js';
import { slackProvider } from './slack.js';
import { teamsProvider } from './teams.js';
import type { Provider } from './types.js';
import { webhookProvider } from './webhook.js';

// The one map from notifier type to provider; the mapped type makes a missing entry a compile error.
export const PROVIDERS: { readonly [T in NotifierType]: Provider<T> } = {
  webhook: webhookProvider,
  teams: teamsProvider,
  slack: slackProvider,
  alertmanager: alertmanagerProvider,
};
