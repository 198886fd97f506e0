import type { AvailabilityWindow, CheckHistorySummary, DaySummary, HistoryReader, IncidentSummary } from '../../src/history/reader.js';
import type { CheckKind } from '../../src/core/check.js';

const DAY_MS = 86_400_000;
const WINDOW_DAYS: Record<AvailabilityWindow, number> = { '24h': 1, '7d': 7, '30d': 30, '90d': 90 };

/** How the fixture fills a day: seconds by state; what is left of the day is unknown. */
export type DayFill = (check: { monitor: string; check: CheckKind }, daysAgo: number) => Partial<Omit<DaySummary, 'day' | 'unknownSeconds'>>;

/**
 * A HistoryReader over generated days, for rendering tests and the bench while they need no real store.
 * Availability per window is ok / (ok + fail) over that many trailing days, as the contract describes.
 */
export class MemoryHistory implements HistoryReader {
  readonly queries: Array<{ checks: number | 'all' }> = [];

  constructor(
    private readonly fill: DayFill,
    private readonly incidentList: IncidentSummary[] = [],
    private readonly all: ReadonlyArray<{ monitor: string; check: CheckKind }> = [],
  ) {}

  async checkSummaries(query: { now: number; days: number; checks?: ReadonlyArray<{ monitor: string; check: CheckKind }> }): Promise<CheckHistorySummary[]> {
    this.queries.push({ checks: query.checks ? query.checks.length : 'all' });
    return (query.checks ?? this.all).map((check) => {
      const days: DaySummary[] = [];
      for (let ago = query.days - 1; ago >= 0; ago--) {
        const filled = this.fill(check, ago);
        const okSeconds = filled.okSeconds ?? 0;
        const failSeconds = filled.failSeconds ?? 0;
        const maintenanceSeconds = filled.maintenanceSeconds ?? 0;
        days.push({
          day: new Date(query.now - ago * DAY_MS).toISOString().slice(0, 10),
          okSeconds,
          failSeconds,
          maintenanceSeconds,
          unknownSeconds: Math.max(0, 86_400 - okSeconds - failSeconds - maintenanceSeconds),
        });
      }
      const availability = {} as Record<AvailabilityWindow, number | null>;
      for (const [window, count] of Object.entries(WINDOW_DAYS) as Array<[AvailabilityWindow, number]>) {
        const tail = days.slice(-count);
        const ok = tail.reduce((sum, day) => sum + day.okSeconds, 0);
        const fail = tail.reduce((sum, day) => sum + day.failSeconds, 0);
        availability[window] = ok + fail > 0 ? ok / (ok + fail) : null;
      }
      return { monitor: check.monitor, check: check.check, days, availability };
    });
  }

  async incidents(query: { from: number; to: number; limit: number; monitor?: string }): Promise<IncidentSummary[]> {
    return this.incidentList
      .filter((incident) => incident.startedAt <= query.to && (incident.endedAt ?? Infinity) >= query.from)
      .filter((incident) => query.monitor === undefined || incident.monitor === query.monitor)
      .sort((a, b) => b.startedAt - a.startedAt)
      .slice(0, query.limit);
  }
}
