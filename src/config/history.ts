import { z } from 'zod';
import { CHECK_KINDS } from '../core/check.js';
import { SecretSource } from './secret-source.js';

// The "history" (where results are kept) and "sla" (how they are accounted and reported) sections. Every field
// is documented here, once; defaults are in HISTORY_DEFAULTS and SLA_DEFAULTS beside them.

export const HISTORY_DEFAULTS = {
  backend: 'sqlite',
  sqliteFile: 'history.sqlite',
  flushSeconds: 1,
  resultsDays: 45,
  hourlyDays: 100,
  dailyDays: 400,
} as const;

export const SLA_DEFAULTS = {
  timeZone: 'UTC',
  // The shipped recording rules' mailprobe:check_availability:slo_target (deploy/prometheus/recording-rules.yml)
  // cannot read the configuration: it states the same number, and test/integration/deploy-report-rules.test.ts compares them.
  target: 99.5,
  unknownCountsAsDown: false,
  minimumOutageFailures: 1,
  minimumOutageSeconds: 0,
} as const;

export const MONTHLY_SUMMARY_DEFAULTS = {
  day: 1,
  at: '08:00',
} as const;

const timeZone = z
  .string()
  .min(1)
  .refine((zone) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  }, 'an IANA time zone such as Europe/Berlin or UTC');

const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day as HH:MM (24 h)');
const localOrInstant = z
  .string()
  .regex(
    /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/,
    'a date (2026-11-03), a local time (2026-11-03T22:30) or an instant (2026-11-03T21:30Z)',
  );
const target = z.number().gt(0).lt(100);
const name = z.string().min(1);

export const HistoryConfig = z
  .object({
    enabled: z.boolean().optional().describe('false keeps no history (no report, no restore after a restart). Default true.'),
    backend: z.enum(['sqlite', 'postgres']).optional().describe('sqlite (default): one file in agent.stateDir. postgres: a database that replicas share.'),
    sqliteFile: z.string().min(1).optional().describe('SQLite file, relative to agent.stateDir (default history.sqlite).'),
    postgresUrl: SecretSource.optional().describe(
      'PostgreSQL connection string, e.g. {"env": "MAILPROBE_PG_URL"} holding postgres://user:password@host:5432/mailprobe. Required for backend postgres.',
    ),
    flushSeconds: z
      .number()
      .min(0.1)
      .max(60)
      .optional()
      .describe('Results are written in one batch this often (default 1); a crash loses at most the last batch.'),
    retention: z
      .object({
        resultsDays: z.number().int().min(1).max(3650).optional().describe('Every single result is kept this long (default 45).'),
        hourlyDays: z.number().int().min(90).max(3650).optional().describe('Hourly rollups (default 100, at least 90 for the status page).'),
        dailyDays: z
          .number()
          .int()
          .min(400)
          .max(36500)
          .optional()
          .describe('Daily rollups, incidents and the agent’s running periods (default 400, so a yearly report works).'),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((history) => history.backend !== 'postgres' || history.postgresUrl !== undefined, {
    message: 'backend "postgres" needs postgresUrl',
    path: ['postgresUrl'],
  });

const scope = {
  monitors: z.array(name).min(1).optional().describe('Monitor names it applies to (all when absent).'),
  tenants: z.array(name).min(1).optional().describe('Tenant keys it applies to (all when absent).'),
  checks: z.array(z.enum(CHECK_KINDS)).min(1).optional().describe('Checks it applies to (all when absent).'),
};

export const MaintenanceConfig = z
  .object({
    name: name.describe('Shown in reports as an excluded window.'),
    ...scope,
    timeZone: timeZone.optional().describe('Zone of the local times below (default sla.timeZone).'),
    start: localOrInstant.optional().describe('One-off window: start, local time in timeZone or an instant.'),
    end: localOrInstant.optional().describe('One-off window: end.'),
    recurring: z
      .object({
        at: clockTime.describe('Local start time, HH:MM.'),
        durationMinutes: z.number().int().min(1).max(10080).describe('Length of each occurrence.'),
        days: z
          .array(z.enum(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']))
          .min(1)
          .optional()
          .describe('Weekdays it starts on (every day when absent).'),
      })
      .strict()
      .optional()
      .describe('Recurring window, e.g. {"at": "02:00", "durationMinutes": 120, "days": ["sun"]}.'),
  })
  .strict()
  .refine((window) => (window.recurring === undefined) === (window.start !== undefined && window.end !== undefined), {
    message: 'either start and end (one-off) or recurring',
  });

export const SlaConfig = z
  .object({
    timeZone: timeZone.optional().describe('Zone of report days and months, e.g. Europe/Berlin (default UTC).'),
    target: target.optional().describe(`SLO target in percent for every check (default ${SLA_DEFAULTS.target}).`),
    targets: z
      .array(z.object({ ...scope, target: target.describe('SLO target in percent.') }).strict())
      .optional()
      .describe('Targets for some monitors, tenants or checks; the most specific match wins (monitor over tenant over check only).'),
    unknownCountsAsDown: z
      .boolean()
      .optional()
      .describe('Count time without a result (agent stopped, check not run) as down. Default false: it is reported, not counted.'),
    minimumOutage: z
      .object({
        failures: z.number().int().min(1).max(1000).optional().describe('Consecutive failed runs before a streak counts as an outage (default 1).'),
        seconds: z.number().min(0).max(86400).optional().describe('Shortest streak, in seconds, that counts as an outage (default 0).'),
      })
      .strict()
      .optional()
      .describe('A failure streak below either bound is a blip: its time counts as OK.'),
    maintenance: z.array(MaintenanceConfig).optional().describe('Maintenance windows: excluded from availability.'),
    monthlySummary: z
      .object({
        enabled: z.boolean().optional().describe('false stops the summary and keeps the settings (default true when this section exists).'),
        day: z.number().int().min(1).max(28).optional().describe('Day of the month it goes out, 1–28 so every month has it (default 1).'),
        at: clockTime.optional().describe('Local time it goes out on that day, in sla.timeZone (default 08:00).'),
        notifiers: z
          .array(name)
          .min(1)
          .optional()
          .describe(
            'Names of alerting.notifiers it goes to (default every webhook, Teams and Slack notifier without a "monitors" filter; Alertmanager takes alerts, not reports).',
          ),
        tenant: name.optional().describe('Only this tenant (a key of "tenants"), as `mailprobe report --tenant` (default all).'),
      })
      .strict()
      .optional()
      .describe(
        'The previous calendar month’s report, summed up, sent once through the notifiers: availability, SLOs, worst checks, top incidents with their fix.',
      ),
  })
  .strict();

export type MonthlySummaryInput = NonNullable<SlaConfigInput['monthlySummary']>;

/** A notifier the summary can go to, with its type. */
interface NotifierRef {
  name: string;
  type: string;
  monitors?: readonly string[];
}

/**
 * The notifiers a summary goes to when none are named: those that take a report (not Alertmanager) and hear about
 * every monitor. One limited to some monitors (a customer's channel) would otherwise see everyone's figures.
 */
export function defaultSummaryNotifier(notifier: NotifierRef): boolean {
  return notifier.type !== 'alertmanager' && notifier.monitors === undefined;
}

/**
 * Cross-field rules of sla.monthlySummary: it needs history and a notifier that takes reports, and the names it
 * gives must exist. Returned as (path, message) pairs for the resolver to report with the file.
 */
export function monthlySummaryIssues(input: {
  sla?: SlaConfigInput;
  history?: HistoryConfigInput;
  alerting?: { notifiers: readonly NotifierRef[] };
  tenants: Record<string, unknown>;
}): Array<{ path: string; message: string }> {
  const summary = input.sla?.monthlySummary;
  if (!summary || summary.enabled === false) return [];
  const at = 'sla.monthlySummary';
  const issues: Array<{ path: string; message: string }> = [];
  if (input.history?.enabled === false)
    issues.push({ path: at, message: 'needs the history store, but "history": {"enabled": false} keeps none; enable history or set "enabled": false here' });
  const notifiers = input.alerting?.notifiers ?? [];
  const byName = new Map(notifiers.map((notifier) => [notifier.name, notifier]));
  const known = notifiers.map((notifier) => `"${notifier.name}"`).join(', ') || 'none defined';
  if (summary.notifiers) {
    summary.notifiers.forEach((wanted, index) => {
      const notifier = byName.get(wanted);
      if (!notifier) issues.push({ path: `${at}.notifiers[${index}]`, message: `unknown notifier "${wanted}" (alerting.notifiers: ${known})` });
      else if (notifier.type === 'alertmanager')
        issues.push({
          path: `${at}.notifiers[${index}]`,
          message: `"${wanted}" is an Alertmanager notifier; Alertmanager takes alerts, not reports: name a webhook, Teams or Slack notifier`,
        });
    });
  } else if (!notifiers.some(defaultSummaryNotifier)) {
    issues.push({
      path: at,
      message: `no webhook, Teams or Slack notifier for all monitors to send it through (alerting.notifiers: ${known}); name one in "notifiers", add one, or set "enabled": false`,
    });
  }
  if (summary.tenant !== undefined && !Object.hasOwn(input.tenants, summary.tenant)) {
    const tenants =
      Object.keys(input.tenants)
        .map((key) => `"${key}"`)
        .join(', ') || 'none defined';
    issues.push({ path: `${at}.tenant`, message: `unknown tenant "${summary.tenant}" (tenants: ${tenants})` });
  }
  return issues;
}

export type HistoryConfigInput = z.infer<typeof HistoryConfig>;
export type SlaConfigInput = z.infer<typeof SlaConfig>;
export type MaintenanceConfigInput = z.infer<typeof MaintenanceConfig>;
