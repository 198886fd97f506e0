import { formatLocal } from '../history/calendar.js';
import { duration, percent } from '../history/report-format.js';
import type { ReportBrief } from '../history/report-brief.js';
import type { CheckReport, IncidentReport } from '../history/report.js';

// What the monthly summary says, drawn from the brief of the SLA report that `mailprobe report` prints: a manager
// reads the headline figures, an admin the worst checks and the outages with their fix. Every provider renders
// this one record, so Teams, Slack and the webhook never disagree.

/** Worst checks and longest outages shown; the rest is counted and left to the full report. */
export const SUMMARY_TOP = 5;

export type DigestCheck = Pick<CheckReport, 'monitor' | 'tenant' | 'check' | 'availability' | 'target' | 'sloMet' | 'failSeconds' | 'unknownSeconds'>;

export type DigestIncident = Pick<IncidentReport, 'monitor' | 'tenant' | 'check' | 'startedAt' | 'endedAt' | 'durationSeconds' | 'reason' | 'stage' | 'fix'>;

export interface MonthlyDigest {
  /** Stable per month (and tenant filter), so a receiver can drop a repeat after a crash mid-send. */
  id: string;
  period: string;
  timeZone: string;
  from: string;
  to: string;
  tenant: string | null;
  /** When it was due; a summary sent late (agent down at that time) says so. */
  scheduledFor: string;
  checks: number;
  availability: number | null;
  sloMet: number;
  sloMissed: number;
  noData: number;
  outages: number;
  mttrSeconds: number | null;
  coverage: number | null;
  /** Check-seconds without a result (summed over checks). */
  unknownSeconds: number;
  /** Wall-clock time no agent was running, and in how many stretches. */
  agentDownSeconds: number;
  agentDownPeriods: number;
  /** Lowest availability first, only checks below 100 % or missing their SLO. */
  worst: DigestCheck[];
  worstLeftOut: number;
  /** Longest outages first (blips are not outages). */
  incidents: DigestIncident[];
  incidentsLeftOut: number;
  /** The command that prints the whole report. */
  command: string;
  /** Set when the summary covers less than every monitor (a shard's own history). */
  scopeNote: string | null;
}

export function digestOf(report: ReportBrief, options: { scheduledFor: number; scopeNote?: string }): MonthlyDigest {
  const tenant = report.filter.tenant;
  const s = report.summary;
  return {
    id: `mailprobe-summary-${report.period.label}${tenant ? `-${tenant}` : ''}`,
    period: report.period.label,
    timeZone: report.period.timeZone,
    from: report.period.from,
    to: report.period.to,
    tenant,
    scheduledFor: new Date(options.scheduledFor).toISOString(),
    checks: s.checks,
    availability: s.availability,
    sloMet: s.sloMet,
    sloMissed: s.sloMissed,
    noData: s.noData,
    outages: s.outages,
    mttrSeconds: s.mttrSeconds,
    coverage: s.coverage,
    unknownSeconds: s.unknownSeconds,
    agentDownSeconds: report.agentDown.reduce((total, gap) => total + gap.seconds, 0),
    agentDownPeriods: report.agentDown.length,
    worst: report.worst.top.map((check) => ({
      monitor: check.monitor,
      tenant: check.tenant,
      check: check.check,
      availability: check.availability,
      target: check.target,
      sloMet: check.sloMet,
      failSeconds: check.failSeconds,
      unknownSeconds: check.unknownSeconds,
    })),
    worstLeftOut: Math.max(0, report.worst.count - report.worst.top.length),
    incidents: report.outages.top.map((incident) => ({
      monitor: incident.monitor,
      tenant: incident.tenant,
      check: incident.check,
      startedAt: incident.startedAt,
      endedAt: incident.endedAt,
      durationSeconds: incident.durationSeconds,
      reason: incident.reason,
      stage: incident.stage,
      fix: incident.fix,
    })),
    incidentsLeftOut: Math.max(0, report.outages.count - report.outages.top.length),
    command: `mailprobe report --period ${report.period.label}${tenant ? ` --tenant ${tenant}` : ''}`,
    scopeNote: options.scopeNote ?? null,
  };
}

// Plain wording shared by the chat providers.

export function digestTitle(digest: MonthlyDigest): string {
  return `Mailbox availability ${digest.period}${digest.tenant ? ` (${digest.tenant})` : ''}: ${percent(digest.availability)}`;
}

/** The headline figures as label/value pairs, in reading order. */
export function digestFacts(digest: MonthlyDigest): Array<readonly [string, string]> {
  return [
    ['Availability', `${percent(digest.availability)} over ${digest.checks} checks`],
    ['SLO', `met ${digest.sloMet}, missed ${digest.sloMissed}${digest.noData > 0 ? `, no data ${digest.noData}` : ''}`],
    ['Outages', `${digest.outages}${digest.mttrSeconds !== null ? `, MTTR ${duration(digest.mttrSeconds)}` : ''}`],
    [
      'Data coverage',
      `${percent(digest.coverage, 1)} of the time had a result${digest.unknownSeconds > 0 ? ` (${duration(digest.unknownSeconds)} without, summed over checks)` : ''}`,
    ],
    [
      'Agent not running',
      digest.agentDownPeriods > 0
        ? `${duration(digest.agentDownSeconds)} in ${digest.agentDownPeriods} stretch${digest.agentDownPeriods === 1 ? '' : 'es'} (its checks count as UNKNOWN)`
        : 'never',
    ],
  ];
}

export function worstLine(check: DigestCheck): string {
  const slo = check.sloMet === false ? `SLO ${check.target} % MISSED` : `SLO ${check.target} % met`;
  return `${check.monitor} ${check.check}: ${percent(check.availability)} (${slo}), down ${duration(check.failSeconds)}`;
}

export function incidentLine(incident: DigestIncident, timeZone: string): string {
  const length = incident.endedAt === null ? `${duration(incident.durationSeconds)}, still open` : duration(incident.durationSeconds);
  return `${incident.monitor} ${incident.check}: ${incident.reason} at ${incident.stage}, ${length} from ${formatLocal(Date.parse(incident.startedAt), timeZone)} ${timeZone}`;
}

export function footerLine(digest: MonthlyDigest): string {
  return `Full report: ${digest.command}${digest.scopeNote ? ` · ${digest.scopeNote}` : ''}`;
}
