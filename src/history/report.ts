import type { Cause } from '../core/cause.js';
import type { CheckKind } from '../core/check.js';
import { isReasonCode, reasonCategory } from '../core/reasons.js';
import {
  agentDownIntervals,
  spansWithTotals,
  availabilityOf,
  checkKey,
  finishAccounting,
  lookBackOf,
  maintenanceIn,
  periodTotals,
  planAccounting,
  sumAccounted,
  sumFields,
  type Accounted,
  type AccountingPlan,
  type AccountingPolicy,
  type CheckIdentityRef,
  type Windows,
  type WindowsIn,
} from './accounting.js';
import { localTime, monthRange, parseLocal, previousMonth } from './calendar.js';
import { CheckMap } from './check-map.js';
import { COVER_GRACE } from './spans.js';
import { appliesTo, clipIntervals, occurrences, type Interval, type MaintenanceWindow } from './maintenance.js';
import type { TimeSums } from './range-sums.js';
import { groupBy, memoHourSums } from './store-reader.js';
import {
  DELIVERY_BOUNDS,
  DURATION_BOUNDS,
  emptyTotals,
  quantile,
  type CheckSpan,
  type HistoryStore,
  type IncidentRow,
  type ResultRow,
  type Totals,
} from './types.js';

// The SLA report: one JSON document that the CLI prints in five formats and /api/report serves as is.

export interface ReportQuery {
  /** [from, to), epoch ms; to may be in the future (a month in progress is accounted up to now). */
  from: number;
  to: number;
  now: number;
  /** "2026-11", or "from … to …", as the reader asked. */
  label: string;
  monitor?: string;
  tenant?: string;
}

export interface ReportContext {
  store: HistoryStore;
  policy: AccountingPolicy;
  /** Checks configured now. */
  configured: readonly ConfiguredCheck[];
}

export type ConfiguredCheck = CheckIdentityRef;

export interface ReportSeconds {
  okSeconds: number;
  failSeconds: number;
  maintenanceSeconds: number;
  unknownSeconds: number;
  /** Part of unknownSeconds during which no agent was running. */
  agentDownSeconds: number;
  /** Failed time of a delegated monitor whose user had to sign in again: neither up nor down. */
  signInSeconds: number;
}

export interface CheckReport extends ReportSeconds {
  monitor: string;
  tenant: string;
  check: CheckKind;
  /** ok / (ok + fail [+ unknown]); null when nothing was accounted. */
  availability: number | null;
  /** Percent. */
  target: number;
  sloMet: boolean | null;
  errorBudget: { totalSeconds: number; usedSeconds: number; leftSeconds: number };
  /** Share of the accounted, non-maintenance time that a result covered. */
  coverage: number | null;
  /** Failed time forgiven as shorter than the minimum outage. */
  forgivenSeconds: number;
  runs: number;
  failures: number;
  incidents: number;
  mttrSeconds: number | null;
  durationSeconds: { p50: number | null; p95: number | null };
  deliverySeconds: { p50: number | null; p95: number | null } | null;
}

export interface TenantReport extends ReportSeconds {
  tenant: string;
  checks: number;
  availability: number | null;
  sloMissed: number;
  incidents: number;
}

export interface IncidentReport {
  monitor: string;
  tenant: string;
  check: CheckKind;
  startedAt: string;
  endedAt: string | null;
  /** Up to its end, or to now (or the period's end) while open. */
  durationSeconds: number;
  reason: string;
  category: string | null;
  stage: string;
  serverText: string | null;
  failures: number;
  /** The fix in one line, as diagnosed at the incident's first failure (with that tenant's cloud and app). */
  fix: string;
  /** The monitor's cause as last attributed while the incident was open; null on incidents recorded before (schema 4). */
  cause: Cause | null;
  /** False for a blip shorter than the minimum outage (its time counts as OK). */
  outage: boolean;
}

export interface SlaReport {
  report: 'mailprobe-sla';
  version: 1;
  generatedAt: string;
  period: { label: string; from: string; to: string; timeZone: string; accountedTo: string };
  filter: { monitor: string | null; tenant: string | null };
  accounting: {
    unknownCountsAsDown: boolean;
    minimumOutage: { failures: number; seconds: number };
    /** A result covers its interval plus this share, unless the next result comes first. */
    coverGrace: number;
  };
  summary: ReportSeconds & {
    checks: number;
    availability: number | null;
    sloMet: number;
    sloMissed: number;
    noData: number;
    incidents: number;
    outages: number;
    mttrSeconds: number | null;
    coverage: number | null;
  };
  tenants: TenantReport[];
  checks: CheckReport[];
  incidents: IncidentReport[];
  /** Outages and their failed time inside the period, by cause (`not_recorded` for incidents from before schema 4), most time first. */
  lostByCause: Array<{ cause: Cause | 'not_recorded'; outages: number; failSeconds: number }>;
  excluded: Array<{ name: string; from: string; to: string; scope: string }>;
  agentDown: Array<{ from: string; to: string; seconds: number }>;
}

const INCIDENT_LIMIT = 100_000;
// localeCompare's order through one collator: localeCompare itself set one up per call, ~1 s of sorting 200,000
// checks (npm run bench:fleet).
const collate = new Intl.Collator().compare;

export async function buildReport(context: ReportContext, query: ReportQuery): Promise<SlaReport> {
  const { store, policy } = context;
  const { from, to, now } = query;
  const end = Math.min(to, now);
  const filtered = Boolean(query.monitor || query.tenant);
  // Unfiltered, every check's span and totals are one read (200,000 checks, npm run bench:fleet); a filtered
  // report sums only the checks it shows, once it knows them.
  const reads = Promise.all([
    filtered ? store.checkStates({ status: false }) : spansWithTotals(store, from, to),
    store.incidents({
      from,
      to: end,
      limit: INCIDENT_LIMIT,
      ...(query.monitor ? { monitor: query.monitor } : {}),
      ...(query.tenant ? { tenant: query.tenant } : {}),
    }),
    store.agentRuns({ from, to: end }),
  ]);
  // While the database works (~1 s at 200,000 checks): one entry per configured check, and the collation ranks
  // of their names. A lookup per check instead of one per map.
  const entries = new CheckMap<Entry>();
  const listed: Entry[] = [];
  const add = (entry: Entry): void => {
    entries.set(entry.check, entry);
    listed.push(entry);
  };
  for (const check of context.configured) {
    const entry = entries.get(check);
    if (entry) entry.check = check;
    else add({ check, configured: true, accounted: false });
  }
  let ranks: Ranks | undefined = collationRanks(context.configured);
  const [spans, incidentRows, runs] = await reads;
  for (const span of spans) {
    const rollup = 'totals' in span ? span.totals : undefined;
    const entry = entries.get(span);
    if (entry) {
      entry.state = span;
      entry.rollup = rollup;
      continue;
    }
    add({ check: span, state: span, rollup, configured: false, accounted: false });
    if (ranks && !(ranks.tenants.has(span.tenant) && ranks.monitors.has(span.monitor) && ranks.kinds.has(span.check))) ranks = undefined;
  }
  // Each incident to its check's entry: one lookup per incident, not one per check.
  const owners = incidentRows.map((row) => {
    const entry = entries.get(row);
    if (entry) (entry.incidents ??= []).push(row);
    return entry;
  });
  const shown = listed.filter(
    ({ check }) => (query.monitor === undefined || check.monitor === query.monitor) && (query.tenant === undefined || check.tenant === query.tenant),
  );
  // A name only the history knows (a check no longer configured) ranks the names anew.
  const wanted = inCollationOrder(shown, ranks ?? collationRanks(shown.map((entry) => entry.check)));
  const wantedChecks = filtered ? wanted.map((entry) => entry.check) : undefined;
  if (wantedChecks) {
    const totals = await periodTotals(store, from, to, { checks: wantedChecks, states: spans });
    for (const entry of wanted) entry.rollup = totals.get(checkKey(entry.check));
  }
  const agentDown = agentDownIntervals(runs, from, end, now);
  const agentDownInPeriod = clipIntervals(agentDown, from, end);
  const windows = sharedWindows(policy);

  // Accounted in two passes, without a promise per check: what needs no read at once, then the hourly sums of the
  // maintenance windows (one query per distinct set of hours), then the rest. Only a window covering part of an
  // hour reads raw results, check by check. A check done in the first pass leaves no plan behind (200,000 plans
  // kept to the second pass were all copied into the old generation, npm run bench:fleet).
  const hourSums = memoHourSums(store, wantedChecks);
  const hourReads = new Map<Windows, Promise<CheckMap<TimeSums>>>();
  const accountedChecks: Entry[] = [];
  const accountedList: Accounted[] = [];
  const checks: CheckReport[] = [];
  const pending: Array<{ plan: AccountingPlan; at: number }> = [];
  const report = (entry: Entry, accounted: Accounted, at: number): void => {
    entry.accounted = true;
    accountedList[at] = accounted;
    const incidents = entry.incidents ?? NO_INCIDENTS;
    const outages = incidents.length === 0 ? incidents : incidents.filter((incident) => isOutage(incident, policy, end));
    checks[at] = checkReport(entry.check, accounted, entry.rollup ?? emptyTotals(), outages, policy);
  };
  for (const entry of wanted) {
    const { check, state } = entry;
    // A check with neither a result ever nor a configuration is history's, not this period's.
    if (!state && !entry.configured) continue;
    const plan = planAccounting(
      {
        check,
        from,
        to,
        now,
        totals: (entry.rollup ??= emptyTotals()),
        ...(state ? { state } : {}),
        configured: entry.configured,
        incidents: entry.incidents ?? NO_INCIDENTS,
        agentDown: agentDownInPeriod,
      },
      policy,
      windows.of,
    );
    const at = accountedChecks.push(entry) - 1;
    if (plan.done) {
      report(entry, plan.done, at);
      continue;
    }
    if (plan.maintenance.hours.length > 0 && !hourReads.has(plan.maintenance)) hourReads.set(plan.maintenance, hourSums(plan.maintenance.hours));
    pending.push({ plan, at });
  }
  const hoursOf = new Map<Windows, CheckMap<TimeSums>>();
  await Promise.all([...hourReads].map(async ([key, read]) => hoursOf.set(key, await read)));
  for (const { plan, at } of pending) {
    const entry = accountedChecks[at] as Entry;
    const { hours, partial } = plan.maintenance;
    const rolled = hours.length > 0 ? hoursOf.get(plan.maintenance)?.get(entry.check) : undefined;
    const results: ResultRow[][] = [];
    for (const part of partial)
      results.push(await store.results({ monitor: entry.check.monitor, check: entry.check.check, from: part.from - lookBackOf(plan.input), to: part.to }));
    report(entry, finishAccounting(plan, rolled, results, policy), at);
  }
  // Recurring windows are expanded over the time each check has data for, not over the period asked: a period
  // from the year 1900 must not expand 46,000 days of windows per check. Noted in the checks' order.
  accountedChecks.forEach((entry, at) => {
    const accounted = accountedList[at] as Accounted;
    windows.note(entry.check, accounted.accountedFrom, accounted.accountedTo);
  });

  const kept = incidentRows.filter((_, i) => owners[i]?.accounted === true);
  const incidents = kept.map((row) => incidentReport(row, policy, end));
  const sum = sumAccounted(accountedList);
  const outages = incidents.filter((incident) => incident.outage);
  const sloChecks = checks.filter((check) => check.sloMet !== null);
  const accountable = sum.okMs + sum.failMs + sum.unknownMs;
  // Before the first check's first result there was no agent yet (or none of these checks): that is not downtime.
  // A loop, not Math.min(...): spreading 200,000 checks' starts overflowed the stack (npm run bench:fleet).
  let since = end;
  for (const part of accountedList) if (part.accountedTo > part.accountedFrom && part.accountedFrom < since) since = part.accountedFrom;
  return {
    report: 'mailprobe-sla',
    version: 1,
    generatedAt: new Date(now).toISOString(),
    period: { label: query.label, from: iso(from), to: iso(to), timeZone: policy.timeZone, accountedTo: iso(end) },
    filter: { monitor: query.monitor ?? null, tenant: query.tenant ?? null },
    accounting: { unknownCountsAsDown: policy.unknownCountsAsDown, minimumOutage: { ...policy.minimumOutage }, coverGrace: COVER_GRACE },
    summary: {
      checks: checks.length,
      availability: availabilityOf(sum, policy),
      sloMet: sloChecks.filter((check) => check.sloMet).length,
      sloMissed: sloChecks.filter((check) => !check.sloMet).length,
      noData: checks.length - sloChecks.length,
      incidents: incidents.length,
      outages: outages.length,
      mttrSeconds: mttr(outages.flatMap((incident) => (incident.endedAt === null ? [] : [incident.durationSeconds]))),
      coverage: accountable > 0 ? (sum.okMs + sum.failMs) / accountable : null,
      ...seconds(sum),
    },
    tenants: tenantReports(checks),
    checks,
    incidents,
    lostByCause: lostByCause(
      kept.filter((row) => isOutage(row, policy, end)),
      from,
      end,
    ),
    excluded: windows
      .excluded()
      .sort((a, b) => a.interval.from - b.interval.from)
      .map((entry) => ({ name: entry.name, from: iso(entry.interval.from), to: iso(entry.interval.to), scope: entry.scope })),
    agentDown: clipIntervals(agentDown, since, end).map((gap) => ({ from: iso(gap.from), to: iso(gap.to), seconds: round(gap.to - gap.from) })),
  };
}

interface Entry {
  check: CheckIdentityRef;
  state?: CheckSpan;
  configured: boolean;
  rollup?: Totals | undefined;
  /** The check's incidents overlapping the period, newest first. */
  incidents?: IncidentRow[];
  accounted: boolean;
}

const NO_INCIDENTS: readonly IncidentRow[] = [];

/** Each distinct tenant, monitor and check name's place in the collator's order; names it holds equal share one. */
interface Ranks {
  tenants: Map<string, number>;
  monitors: Map<string, number>;
  kinds: Map<string, number>;
}

function collationRanks(checks: readonly CheckIdentityRef[]): Ranks {
  const rankOf = (names: Iterable<string>): Map<string, number> => {
    const sorted = [...new Set(names)].sort(collate);
    const ranks = new Map<string, number>();
    let rank = 0;
    sorted.forEach((name, i) => {
      if (i > 0 && collate(sorted[i - 1] ?? '', name) !== 0) rank += 1;
      ranks.set(name, rank);
    });
    return ranks;
  };
  return {
    tenants: rankOf(checks.map((check) => check.tenant)),
    monitors: rankOf(checks.map((check) => check.monitor)),
    kinds: rankOf(checks.map((check) => check.check)),
  };
}

/**
 * By tenant, monitor and check in the collator's order, as comparing each pair with it would sort them: each
 * distinct name is ranked once and the checks sorted by their ranks (200,000 checks compared ~3.6 million times
 * through Intl, npm run bench:fleet). Ranks of more names than the entries have order them the same.
 */
function inCollationOrder(entries: Entry[], ranks: Ranks): Entry[] {
  return entries
    .map((entry) => ({
      entry,
      tenant: ranks.tenants.get(entry.check.tenant) ?? 0,
      monitor: ranks.monitors.get(entry.check.monitor) ?? 0,
      kind: ranks.kinds.get(entry.check.check) ?? 0,
    }))
    .sort((a, b) => a.tenant - b.tenant || a.monitor - b.monitor || a.kind - b.kind || codeOrder(checkKey(a.entry.check), checkKey(b.entry.check)))
    .map((ranked) => ranked.entry);
}

// Names the collator holds equal (canonically equivalent texts) are ordered by their code units, so the order
// never depends on the order the store answered in.
function codeOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// Most checks of a report have the same windows over the same time (the period, or from their first result):
// their union, and their expansion under "excluded", are done once per set of windows and span, not once per
// check (200,000 checks x two windows, npm run bench:fleet).
function sharedWindows(policy: AccountingPolicy): {
  of: WindowsIn;
  /** The check was accounted over [from, to): its windows' occurrences there are excluded. */
  note: (check: CheckIdentityRef, from: number, to: number) => void;
  /** Every noted occurrence, as a loop setting each check's in turn would leave them (first set first, last set kept). */
  excluded: () => Array<{ name: string; interval: Interval; scope: string }>;
} {
  const windows = policy.maintenance;
  const scopes = windows.map(scopeOf);
  const direct = maintenanceIn(policy);
  // A set of windows is a bit mask: up to 30 windows; with more, each check is its own set.
  const shared = windows.length <= 30;
  const maskOf = (check: CheckIdentityRef): number => windows.reduce((mask, window, i) => (appliesTo(window, check) ? mask | (1 << i) : mask), 0);
  const unions = new Map<number, Map<number, Map<number, Windows>>>();
  const spans = new Map<number, Map<number, Map<number, Span>>>();
  const noted: Span[] = [];
  let order = 0;
  return {
    of: (check, start, end) => {
      if (!shared) return direct(check, start, end);
      const mask = maskOf(check);
      const byEnd = slot(
        slot(unions, mask, () => new Map<number, Map<number, Windows>>()),
        start,
        () => new Map<number, Windows>(),
      );
      return slot(byEnd, end, () => direct(check, start, end));
    },
    note: (check, from, to) => {
      if (windows.length === 0) return;
      order += 1;
      if (!shared) {
        noted.push({ windows: windows.flatMap((window, i) => (appliesTo(window, check) ? [i] : [])), from, to, last: order });
        return;
      }
      const mask = maskOf(check);
      if (mask === 0) return;
      const byTo = slot(
        slot(spans, mask, () => new Map<number, Map<number, Span>>()),
        from,
        () => new Map<number, Span>(),
      );
      const span = byTo.get(to);
      if (span) span.last = order;
      else {
        const created = { windows: windows.flatMap((_, i) => ((mask & (1 << i)) !== 0 ? [i] : [])), from, to, last: order };
        byTo.set(to, created);
        noted.push(created);
      }
    },
    excluded: () => {
      const excluded = new Map<string, { name: string; interval: Interval; scope: string }>();
      const each = (span: Span, set: (key: string, entry: { name: string; interval: Interval; scope: string }) => void): void => {
        for (const i of span.windows) {
          const window = windows[i] as MaintenanceWindow;
          for (const interval of occurrences(window, span.from, span.to))
            set(`${window.name}\u0000${interval.from}`, { name: window.name, interval, scope: scopes[i] ?? '' });
        }
      };
      // A key's place is where a check first set it; its value the last check's that set it.
      for (const span of noted) each(span, (key, entry) => excluded.has(key) || excluded.set(key, entry));
      for (const span of [...noted].sort((a, b) => a.last - b.last)) each(span, (key, entry) => excluded.set(key, entry));
      return [...excluded.values()];
    },
  };
}

/** The map's value for the key, made and kept if there is none. */
function slot<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let found = map.get(key);
  if (found === undefined) map.set(key, (found = make()));
  return found;
}

/** Checks accounted over the same span with the same windows; `last` orders the latest such check among the rest. */
interface Span {
  windows: number[];
  from: number;
  to: number;
  last: number;
}

function checkReport(check: CheckIdentityRef, accounted: Accounted, rollup: Totals, outages: readonly IncidentRow[], policy: AccountingPolicy): CheckReport {
  const target = policy.target(check);
  const availability = availabilityOf(accounted, policy);
  const downMs = accounted.failMs + (policy.unknownCountsAsDown ? accounted.unknownMs : 0);
  const budgetMs = ((100 - target) / 100) * (accounted.okMs + downMs);
  const covered = accounted.okMs + accounted.failMs;
  const dueMs = covered + accounted.unknownMs;
  return {
    monitor: check.monitor,
    tenant: check.tenant,
    check: check.check,
    availability,
    target,
    sloMet: availability === null ? null : availability * 100 >= target,
    errorBudget: { totalSeconds: round(budgetMs), usedSeconds: round(downMs), leftSeconds: round(budgetMs - downMs) },
    coverage: dueMs > 0 ? covered / dueMs : null,
    ...seconds(accounted),
    forgivenSeconds: round(accounted.forgivenMs),
    runs: rollup.runs,
    failures: rollup.failures,
    incidents: outages.length,
    mttrSeconds:
      outages.length === 0
        ? null
        : mttr(outages.flatMap((incident) => (incident.endedAt === undefined ? [] : [(incident.endedAt - incident.startedAt) / 1000]))),
    durationSeconds: {
      p50: roundTo(quantile(DURATION_BOUNDS, rollup.durationBuckets, 0.5)),
      p95: roundTo(quantile(DURATION_BOUNDS, rollup.durationBuckets, 0.95)),
    },
    deliverySeconds:
      rollup.deliveries > 0
        ? { p50: roundTo(quantile(DELIVERY_BOUNDS, rollup.deliveryBuckets, 0.5)), p95: roundTo(quantile(DELIVERY_BOUNDS, rollup.deliveryBuckets, 0.95)) }
        : null,
  };
}

function tenantReports(checks: readonly CheckReport[]): TenantReport[] {
  const byTenant = groupBy(checks, (check) => check.tenant);
  return [...byTenant.entries()].map(([tenant, list]) => {
    const sum = sumFields(list, ['okSeconds', 'failSeconds', 'maintenanceSeconds', 'unknownSeconds', 'agentDownSeconds', 'signInSeconds'] as const);
    const counted = list.filter((check) => check.availability !== null);
    // Weighted by time, as for one check: the tenant's availability is its checks' OK seconds over their accounted seconds.
    const down = counted.reduce((total, check) => total + check.errorBudget.usedSeconds, 0);
    const ok = counted.reduce((total, check) => total + check.okSeconds, 0);
    return {
      tenant,
      checks: list.length,
      availability: ok + down > 0 ? ok / (ok + down) : null,
      sloMissed: list.filter((check) => check.sloMet === false).length,
      incidents: list.reduce((total, check) => total + check.incidents, 0),
      ...sum,
    };
  });
}

function isOutage(incident: IncidentRow, policy: AccountingPolicy, end: number): boolean {
  const duration = (incident.endedAt ?? end) - incident.startedAt;
  return incident.failures >= policy.minimumOutage.failures && duration >= policy.minimumOutage.seconds * 1000;
}

function incidentReport(row: IncidentRow, policy: AccountingPolicy, end: number): IncidentReport {
  const stop = row.endedAt ?? end;
  return {
    monitor: row.monitor,
    tenant: row.tenant,
    check: row.check,
    startedAt: iso(row.startedAt),
    endedAt: row.endedAt === undefined ? null : iso(row.endedAt),
    durationSeconds: round(Math.max(0, stop - row.startedAt)),
    reason: row.reason,
    category: isReasonCode(row.reason) ? reasonCategory(row.reason) : null,
    stage: row.stage,
    serverText: row.serverText ?? null,
    failures: row.failures,
    fix: row.diagnosis?.fix ?? FIX_NOT_RECORDED,
    cause: row.cause ?? null,
    outage: isOutage(row, policy, end),
  };
}

// Incidents recorded before the history kept their diagnosis (schema 3): the fix is not re-derived now, when
// the tenant's cloud or the app may have changed since.
const FIX_NOT_RECORDED = 'see the diagnosis of the failing check (mailprobe check)';

// What each cause cost: the outages' time inside the period (an incident reaching into it from before counts from
// the period's start). Checks of one monitor failing together each count, as they do in the checks' availability.
function lostByCause(outages: readonly IncidentRow[], from: number, end: number): SlaReport['lostByCause'] {
  const byCause = new Map<Cause | 'not_recorded', { outages: number; failMs: number }>();
  for (const row of outages) {
    const cause = row.cause ?? 'not_recorded';
    const entry = byCause.get(cause) ?? { outages: 0, failMs: 0 };
    entry.outages += 1;
    entry.failMs += Math.max(0, Math.min(row.endedAt ?? end, end) - Math.max(row.startedAt, from));
    byCause.set(cause, entry);
  }
  return [...byCause]
    .map(([cause, entry]) => ({ cause, outages: entry.outages, failSeconds: round(entry.failMs) }))
    .sort((a, b) => b.failSeconds - a.failSeconds || a.cause.localeCompare(b.cause));
}

/** Mean time to repair over the outages that ended, in seconds. */
function mttr(durations: readonly number[]): number | null {
  if (durations.length === 0) return null;
  return Math.round(durations.reduce((sum, seconds) => sum + seconds, 0) / durations.length);
}

function scopeOf(window: { monitors?: readonly string[]; tenants?: readonly string[]; checks?: readonly string[] }): string {
  const parts = [
    window.monitors ? `monitors ${window.monitors.join(', ')}` : '',
    window.tenants ? `tenants ${window.tenants.join(', ')}` : '',
    window.checks ? `checks ${window.checks.join(', ')}` : '',
  ].filter(Boolean);
  return parts.length > 0 ? parts.join('; ') : 'all checks';
}

function seconds(accounted: Pick<Accounted, 'okMs' | 'failMs' | 'maintenanceMs' | 'unknownMs' | 'agentDownMs' | 'signInMs'>): ReportSeconds {
  return {
    okSeconds: round(accounted.okMs),
    failSeconds: round(accounted.failMs),
    maintenanceSeconds: round(accounted.maintenanceMs),
    unknownSeconds: round(accounted.unknownMs),
    agentDownSeconds: round(accounted.agentDownMs),
    signInSeconds: round(accounted.signInMs),
  };
}

function round(ms: number): number {
  return Math.round(ms / 1000);
}

function roundTo(value: number | null): number | null {
  return value === null ? null : Math.round(value * 1000) / 1000;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The checks of a configuration as the report names them. */
export function reportChecks(config: {
  monitors: ReadonlyArray<{ name: string; enabled: boolean; checks: readonly CheckKind[]; tenant: { key: string } }>;
}): ConfiguredCheck[] {
  return config.monitors
    .filter((monitor) => monitor.enabled)
    .flatMap((monitor) =>
      monitor.checks.map((check) => ({
        monitor: monitor.name,
        tenant: monitor.tenant.key,
        check,
      })),
    );
}

/**
 * The period a reader asked for: a month ("2026-11", "last", "this"), or from/to (a date, a local time or an
 * instant; to defaults to now). Throws RangeError with the reader's words on nonsense. keptDays (the store's
 * longest retention) bounds the period: it starts no earlier than the oldest rollup the store can hold and ends
 * no later than now, so no reader can make the report walk centuries.
 */
export function resolvePeriod(
  ask: { period?: string; from?: string; to?: string },
  timeZone: string,
  now: number,
  keptDays?: number,
): { from: number; to: number; label: string } {
  const asked = askedPeriod(ask, timeZone, now);
  if (keptDays === undefined) return asked;
  const earliest = now - keptDays * 86_400_000;
  const latest = Math.max(now, monthRange(monthOf(now, timeZone), timeZone).to);
  if (asked.to <= earliest)
    throw new RangeError(`the period asked (${asked.label}) ended before the oldest history kept (${keptDays} days, history.retention.dailyDays)`);
  if (asked.from >= latest) throw new RangeError(`the period asked (${asked.label}) starts after this month`);
  return { from: Math.max(asked.from, earliest), to: Math.min(asked.to, latest), label: asked.label };
}

function askedPeriod(ask: { period?: string; from?: string; to?: string }, timeZone: string, now: number): { from: number; to: number; label: string } {
  if (ask.period !== undefined && (ask.from !== undefined || ask.to !== undefined)) throw new RangeError('give --period or --from/--to, not both');
  if (ask.from !== undefined) {
    const from = parseLocal(ask.from, timeZone);
    const to = ask.to === undefined ? now : parseLocal(ask.to, timeZone);
    if (!(to > from)) throw new RangeError(`--to (${ask.to ?? 'now'}) must be after --from (${ask.from})`);
    return { from, to, label: `${ask.from} – ${ask.to ?? 'now'}` };
  }
  if (ask.to !== undefined) throw new RangeError('--to needs --from');
  const month = ask.period === undefined || ask.period === 'last' ? previousMonth(now, timeZone) : ask.period === 'this' ? monthOf(now, timeZone) : ask.period;
  return { ...monthRange(month, timeZone), label: month };
}

function monthOf(ms: number, timeZone: string): string {
  const t = localTime(ms, timeZone);
  return `${t.year}-${String(t.month).padStart(2, '0')}`;
}
