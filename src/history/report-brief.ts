import type { CheckReport, IncidentReport, SlaReport } from './report.js';

/**
 * The report without its lists of every check and every incident: its figures, its worst checks and its longest
 * outages. What the monthly summary reads: the whole report of 200,000 checks crossed from its worker into the
 * agent's thread in ~1 s of the agent's event loop, to be cut down to a few lines there (npm run bench:fleet).
 */
export interface ReportBrief extends Omit<SlaReport, 'checks' | 'incidents'> {
  /** Lowest availability first, only checks below 100 % or missing their SLO: the first `top`, and how many in all. */
  worst: { top: CheckReport[]; count: number };
  /** Longest outages first (blips are not outages): the first `top`, and how many in all. */
  outages: { top: IncidentReport[]; count: number };
}

export function briefOf(report: SlaReport, top: number): ReportBrief {
  const { checks, incidents, ...figures } = report;
  const worst = checks
    .filter((check) => check.availability !== null && (check.availability < 1 || check.sloMet === false))
    .sort((a, b) => (a.availability ?? 0) - (b.availability ?? 0) || b.failSeconds - a.failSeconds);
  const outages = incidents.filter((incident) => incident.outage).sort((a, b) => b.durationSeconds - a.durationSeconds);
  return { ...figures, worst: { top: worst.slice(0, top), count: worst.length }, outages: { top: outages.slice(0, top), count: outages.length } };
}
