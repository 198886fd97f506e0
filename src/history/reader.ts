import type { Cause } from '../core/cause.js';
import type { CheckKind } from '../core/check.js';
import type { IncidentDiagnosis } from '../core/state.js';

// The read side of the history store that the status page and the report share. Written first, as the
// contract between the store (issue 12) and the status page (issue 13); the store's backends implement it.

/** How one second of a check's period is accounted. */
export type PeriodState = 'ok' | 'fail' | 'maintenance' | 'unknown';

/** One calendar day of one check, in the configured reporting time zone. */
export interface DaySummary {
  /** YYYY-MM-DD in the reporting time zone. */
  day: string;
  okSeconds: number;
  failSeconds: number;
  maintenanceSeconds: number;
  unknownSeconds: number;
}

export const AVAILABILITY_WINDOWS = ['24h', '7d', '30d', '90d'] as const;
export type AvailabilityWindow = (typeof AVAILABILITY_WINDOWS)[number];

export interface CheckHistorySummary {
  monitor: string;
  check: CheckKind;
  /** Exactly the requested number of days, oldest first, ending with today; days without data are all unknown. */
  days: DaySummary[];
  /** ok / (ok + fail [+ unknown when the accounting counts it as down]); null when nothing was accounted. */
  availability: Record<AvailabilityWindow, number | null>;
}

export interface IncidentSummary {
  monitor: string;
  tenant: string;
  check: CheckKind;
  /** Epoch milliseconds of the first failed run of the streak. */
  startedAt: number;
  /** Epoch milliseconds of the first successful run after it; absent while the incident is open. */
  endedAt?: number;
  reason: string;
  stage: string;
  /** The server's words on the first failure, redacted; only for detailed views. */
  serverText?: string;
  /** The monitor's cause as last attributed while the incident was open (schema 4); absent on older incidents. */
  cause?: Cause;
  /** What was diagnosed at the first failure: summary and first fix (schema 3); only for detailed views. */
  diagnosis?: IncidentDiagnosis;
}

export interface HistoryReader {
  checkSummaries(query: { now: number; days: number; checks?: ReadonlyArray<{ monitor: string; check: CheckKind }> }): Promise<CheckHistorySummary[]>;
  /** Newest first. */
  incidents(query: { from: number; to: number; limit: number; monitor?: string }): Promise<IncidentSummary[]>;
}
