import type { Cause } from './cause.js';
import type { Protocol, Stage } from './check.js';
import type { Cloud } from './clouds.js';
import type { ReasonCode } from './reasons.js';
import type { CheckIdentity, CheckResult, Diagnosis } from './result.js';

/** The one key of a check across every folder: a monitor runs each check kind once. */
export function checkKey(identity: Pick<CheckIdentity, 'monitor' | 'check'>): string {
  return `${identity.monitor}\u0000${identity.check}`;
}

/** A failing streak as history stores it and reports show it: opened by the first failure, closed by a pass. */
export interface OpenIncident {
  startedAt: number;
  /** What the first failure of the streak was reported as; a later, different reason does not rewrite it. */
  reason: ReasonCode;
  stage: Stage;
  serverText?: string;
  failures: number;
  lastFailureAt: number;
  /** What was diagnosed at the first failure, so reports print that and never re-derive it later. */
  diagnosis?: IncidentDiagnosis;
  /**
   * The monitor's cause as last attributed while the incident was open: unlike the reason it follows the
   * incident, since a sibling check failing later tells more (protocol:imap becomes mailbox).
   */
  cause?: Cause;
}

/** The diagnosis an incident keeps: the summary, the first fix (one line), and what they were written for. */
export interface IncidentDiagnosis {
  summary: string;
  fix: string;
  protocol?: Protocol;
  cloud?: Cloud;
}

/**
 * Where a check stands after its latest result. Folded once per result by the agent; metrics, alerting, history
 * and the status board read it and keep no streak of their own. Times are epoch milliseconds.
 */
export interface CheckState {
  state: 'ok' | 'failing';
  /** When the current state began, as far as this agent (or the history it restored) has seen. */
  since: number;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  firstSeenAt: number;
  lastAt: number;
  lastSuccessAt?: number;
  incident?: OpenIncident;
}

/** What the agent hands every consumer for each result: the result, the state it folded into, and the one before. */
export interface ResultEvent {
  result: CheckResult;
  state: CheckState;
  previous?: CheckState;
  /**
   * The monitor's cause after this result, attributed from the latest result of each of its checks (core/cause.ts);
   * present exactly while one of them fails, so a passing check's event carries its failing sibling's cause.
   */
  cause?: Cause;
}

export function foldState(previous: CheckState | undefined, result: CheckResult, cause?: Cause): CheckState {
  const at = result.startedAt;
  const ok = result.outcome.ok;
  const state = ok ? 'ok' : 'failing';
  const lastSuccessAt = ok ? at : previous?.lastSuccessAt;
  return {
    state,
    since: previous && previous.state === state ? previous.since : at,
    consecutiveFailures: ok ? 0 : (previous?.consecutiveFailures ?? 0) + 1,
    consecutiveSuccesses: ok ? (previous?.consecutiveSuccesses ?? 0) + 1 : 0,
    firstSeenAt: previous?.firstSeenAt ?? at,
    lastAt: at,
    ...(lastSuccessAt !== undefined ? { lastSuccessAt } : {}),
    ...(ok ? {} : { incident: nextIncident(previous?.incident, result, cause) }),
  };
}

function nextIncident(open: OpenIncident | undefined, result: CheckResult, cause: Cause | undefined): OpenIncident {
  const at = result.startedAt;
  if (open) return { ...open, failures: open.failures + 1, lastFailureAt: at, ...(cause !== undefined ? { cause } : {}) };
  const failure = result.outcome.failure;
  const diagnosis = result.diagnosis;
  return {
    startedAt: at,
    reason: result.reason ?? 'internal_error',
    stage: failure?.stage ?? 'config',
    ...(failure?.serverText !== undefined ? { serverText: failure.serverText } : {}),
    failures: 1,
    lastFailureAt: at,
    ...(diagnosis ? { diagnosis: incidentDiagnosis(diagnosis) } : {}),
    ...(cause !== undefined ? { cause } : {}),
  };
}

/** What an incident keeps of a diagnosis: the summary, the first line of the first fix, and what they were written for. */
export function incidentDiagnosis(diagnosis: Pick<Diagnosis, 'summary' | 'fixes' | 'protocol' | 'cloud'>): IncidentDiagnosis {
  const first = diagnosis.fixes[0] ?? diagnosis.summary;
  return {
    summary: diagnosis.summary,
    fix: first.split('\n')[0] ?? first,
    ...(diagnosis.protocol ? { protocol: diagnosis.protocol } : {}),
    ...(diagnosis.cloud ? { cloud: diagnosis.cloud } : {}),
  };
}

/** Folds a result, with its monitor's cause when attributed, into the state kept for its check in `states` and says what changed. */
export function foldInto(states: Map<string, CheckState>, result: CheckResult, cause?: Cause): ResultEvent {
  const key = checkKey(result);
  const previous = states.get(key);
  const state = foldState(previous, result, cause);
  states.set(key, state);
  return { result, state, ...(previous ? { previous } : {}), ...(cause !== undefined ? { cause } : {}) };
}
