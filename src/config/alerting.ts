import { z } from 'zod';
import { SecretSource } from './secret-source.js';
import type { ReasonCategory } from '../core/reasons.js';

// Every field is documented here, once, via .describe(); defaults live in ALERTING_DEFAULTS beside them.

export const REASON_CATEGORIES = [
  'config',
  'token',
  'signin',
  'auth',
  'transport',
  'mailbox',
  'delivery',
  'server',
] as const satisfies readonly ReasonCategory[];

export const NOTIFIER_TYPES = ['webhook', 'teams', 'slack', 'alertmanager'] as const;
export type NotifierType = (typeof NOTIFIER_TYPES)[number];

export const ALERTING_DEFAULTS = {
  failureThreshold: 3,
  successThreshold: 1,
  repeatIntervalMinutes: 240,
  alertmanagerResendSeconds: 60,
  maxAttempts: 5,
  queueSize: 100,
  sendResolved: true,
  severity: 'critical',
} as const;

const notifierCommon = {
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash or underscore')
    .describe('Unique notifier name, used in logs and as the "notifier" metric label.'),
  url: SecretSource.superRefine((value, ctx) => {
    // A URL read from env or file is checked when the notifier is built; a literal one here, at load. The value
    // is not repeated: a Teams or Slack URL carries its token.
    if (typeof value === 'string' && !isHttpUrl(value)) ctx.addIssue({ code: 'custom', message: 'not an absolute http:// or https:// URL' });
  }).describe('Where to POST. A secret (Teams and Slack URLs embed a token): prefer {"env": …} or {"file": …}. Only its host is ever logged.'),
  headers: z
    .record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'an HTTP header name'), SecretSource)
    .optional()
    .describe('Extra request headers, e.g. Authorization; values may come from env or file like secrets. Never logged.'),
  monitors: z.array(z.string().min(1)).min(1).optional().describe('Only alerts of these monitors start on this notifier; default all.'),
  categories: z
    .array(z.enum(REASON_CATEGORIES))
    .min(1)
    .optional()
    .describe(
      'Only failures of these reason categories (config, token, auth, transport, mailbox, delivery, server) start an alert here; default all. An alert that started here is followed to its resolution even if its reason moves to another category.',
    ),
  sendResolved: z.boolean().optional().describe('Also notify when an alert resolves (default true).'),
};

const plainNotifier = <T extends 'webhook' | 'teams' | 'slack'>(type: T, what: string) =>
  z.object({ type: z.literal(type).describe(what), ...notifierCommon }).strict();

export const WebhookNotifier = plainNotifier('webhook', 'Generic JSON webhook: POSTs one JSON object per notification.');
export const TeamsNotifier = plainNotifier('teams', 'Microsoft Teams incoming webhook (Workflows or connector): an Adaptive Card.');
export const SlackNotifier = plainNotifier('slack', 'Slack incoming webhook: Block Kit blocks with a text fallback.');

export const AlertmanagerNotifier = z
  .object({
    type: z.literal('alertmanager').describe('Prometheus Alertmanager v2 API; "url" is its base, e.g. http://alertmanager:9093.'),
    ...notifierCommon,
    severity: z.string().min(1).optional().describe('Value of the "severity" label (default "critical").'),
    generatorURL: z.url().optional().describe('Link Alertmanager shows as the alert source, e.g. this agent’s /api/status.'),
  })
  .strict();

export const NotifierConfig = z.discriminatedUnion('type', [WebhookNotifier, TeamsNotifier, SlackNotifier, AlertmanagerNotifier]);

const positiveInt = z.number().int().positive();

export const AlertingConfig = z
  .object({
    failureThreshold: positiveInt.max(1000).optional().describe('Consecutive failures of one check before its alert fires (default 3).'),
    successThreshold: positiveInt.max(1000).optional().describe('Consecutive successes of a firing check before its alert resolves (default 1).'),
    repeatIntervalMinutes: z
      .number()
      .min(0)
      .max(100000)
      .optional()
      .describe('Remind every this many minutes while an alert keeps firing; 0 never reminds (default 240).'),
    alertmanagerResendSeconds: z
      .number()
      .positive()
      .max(3600)
      .optional()
      .describe('Re-post firing alerts to Alertmanager this often; keep it well under its resolve_timeout (default 60).'),
    maxAttempts: positiveInt.max(20).optional().describe('Delivery attempts per notification, with exponential backoff (default 5).'),
    queueSize: positiveInt.max(100000).optional().describe('Notifications waiting per notifier; when full the oldest is dropped with a warning (default 100).'),
    stateFile: z
      .string()
      .min(1)
      .optional()
      .describe('JSON file keeping alert state across restarts, so a restart neither re-fires nor forgets. Default: alert-state.json in agent.stateDir.'),
    notifiers: z
      .array(NotifierConfig)
      .refine((list) => new Set(list.map((notifier) => notifier.name)).size === list.length, 'notifier names must be unique')
      .describe('Where alerts go.'),
  })
  .strict();

export type AlertingConfigInput = z.infer<typeof AlertingConfig>;
export type NotifierConfigInput = z.infer<typeof NotifierConfig>;
export type NotifierOf<T extends NotifierType> = Extract<NotifierConfigInput, { type: T }>;

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
