import type { ResolvedMonitor, StatusPageSettings } from '../../config/types.js';
import type { AvailabilityWindow, CheckHistorySummary, DaySummary, HistoryReader, IncidentSummary } from '../../history/reader.js';
import type { CheckKind } from '../../core/check.js';
import { incidentDiagnosis } from '../../core/state.js';
import type { CheckStatus, SignInStatus } from '../../core/status.js';

/** Everything the status page reads; the daemon passes its live config, status board and history store. */
export interface StatusSource {
  settings(): StatusPageSettings;
  monitors(): readonly ResolvedMonitor[];
  checks(): readonly CheckStatus[];
  /** A delegated tenant entry's sign-in as last seen (the detail view shows when it lapses); none for the app's. */
  signIn?(tenant: string): SignInStatus | undefined;
  /** One monitor's checks without the whole list (a badge); checks() filtered when absent. */
  checksOf?(monitor: string): readonly CheckStatus[];
  /** Changes whenever checks() would answer differently: rows built for one revision are reused until it moves. */
  revision?(): number;
  history?: HistoryReader;
  now(): number;
}

/** public: display names, groups and plain words only. detail: everything, for the protected view. */
export type StatusView = 'public' | 'detail';

export type CheckState = 'ok' | 'fail' | 'unknown';
export const STATE_FILTERS = ['all', 'failing', 'ok', 'unknown'] as const;
export type StateFilter = (typeof STATE_FILTERS)[number];

export interface StatusQuery {
  q: string;
  state: StateFilter;
  group: string;
  page: number;
  refresh: boolean;
}

export interface MonitorEntry {
  name: string;
  label: string;
  group: string;
  public: boolean;
  tenant: string;
  tenantId: string;
  clientId: string;
  mailbox: string;
  /** The account a delegated tenant entry signs in as; absent when the tenant signs in as the app. */
  account?: string;
  /** Lower-cased text the public search looks in, and the detail search's extra fields. */
  search: { public: string; detail: string };
}

export interface CheckRow {
  check: CheckKind;
  state: CheckState;
  status: CheckStatus;
}

export interface MonitorRow {
  monitor: MonitorEntry;
  checks: CheckRow[];
  state: CheckState;
}

export interface StatusCounts {
  monitors: number;
  checks: Record<CheckState, number>;
}

const QUERY_TEXT_MAX = 100;
export const HISTORY_DAYS = 90;
const DAY_MS = 86_400_000;

export function parseQuery(params: URLSearchParams): StatusQuery {
  const state = params.get('state') ?? 'all';
  const page = Number.parseInt(params.get('page') ?? '1', 10);
  return {
    q: (params.get('q') ?? '').trim().slice(0, QUERY_TEXT_MAX),
    state: (STATE_FILTERS as readonly string[]).includes(state) ? (state as StateFilter) : 'all',
    group: (params.get('group') ?? '').slice(0, QUERY_TEXT_MAX),
    page: Number.isFinite(page) && page >= 1 ? page : 1,
    refresh: params.get('refresh') !== '0',
  };
}

/** The query string for a link that changes some of the current filters; defaults are left out. */
export function queryString(query: StatusQuery, change: Partial<StatusQuery> = {}): string {
  const next = { ...query, ...change };
  const params = new URLSearchParams();
  if (next.q) params.set('q', next.q);
  if (next.state !== 'all') params.set('state', next.state);
  if (next.group) params.set('group', next.group);
  if (next.page > 1) params.set('page', String(next.page));
  if (!next.refresh) params.set('refresh', '0');
  const text = params.toString();
  return text ? `?${text}` : '';
}

// Sorting 10,000 monitors on every request would cost more than rendering a page; the config array only
// changes on reload, so its sorted entries are kept for as long as that array lives.
const entriesCache = new WeakMap<readonly ResolvedMonitor[], { list: MonitorEntry[]; byName: Map<string, MonitorEntry> }>();

export function monitorEntries(monitors: readonly ResolvedMonitor[]): { list: MonitorEntry[]; byName: Map<string, MonitorEntry> } {
  const cached = entriesCache.get(monitors);
  if (cached) return cached;
  const list = monitors.map((monitor): MonitorEntry => {
    const label = monitor.displayName ?? monitor.name;
    const group = monitor.group ?? monitor.tenant.key;
    const publicText = `${label}\n${monitor.name}\n${group}`.toLowerCase();
    return {
      name: monitor.name,
      label,
      group,
      public: monitor.public,
      tenant: monitor.tenant.key,
      tenantId: monitor.tenant.tenantId,
      clientId: monitor.tenant.clientId,
      mailbox: monitor.mailbox,
      ...(monitor.tenant.delegated ? { account: monitor.tenant.delegated.account } : {}),
      search: {
        public: publicText,
        detail: `${publicText}\n${monitor.mailbox}\n${monitor.tenant.key}\n${monitor.tenant.tenantId}\n${monitor.tenant.clientId}`.toLowerCase(),
      },
    };
  });
  const key = (entry: MonitorEntry): string => `${entry.group.toLowerCase()}\u0000${entry.label.toLowerCase()}\u0000${entry.name}`;
  const keys = new Map(list.map((entry) => [entry, key(entry)]));
  list.sort((a, b) => {
    const ka = keys.get(a) ?? '';
    const kb = keys.get(b) ?? '';
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const entries = { list, byName: new Map(list.map((entry) => [entry.name, entry])) };
  entriesCache.set(monitors, entries);
  return entries;
}

export function checkState(status: CheckStatus): CheckState {
  if (status.state === 'ok') return 'ok';
  if (status.state === 'failing') return 'fail';
  return 'unknown';
}

const STATE_RANK: Record<CheckState, number> = { ok: 0, unknown: 1, fail: 2 };

/** A monitor is as bad as its worst check: failing, else waiting for data, else operational. */
export function worstState(states: readonly CheckState[]): CheckState {
  return states.reduce<CheckState>((acc, state) => (STATE_RANK[state] > STATE_RANK[acc] ? state : acc), states.length ? 'ok' : 'unknown');
}

const rowsCache = new WeakMap<StatusSource, { revision: number; monitors: readonly ResolvedMonitor[]; rows: Partial<Record<StatusView, MonitorRow[]>> }>();

/**
 * Every monitor the view may show, in page order, with its checks' current state. Kept per source while its
 * revision and configuration stand: grouping 200,000 checks on every request was most of a page's time.
 */
export function monitorRows(source: StatusSource, view: StatusView): readonly MonitorRow[] {
  const revision = source.revision?.();
  const monitors = source.monitors();
  if (revision === undefined) return buildRows(source, view);
  let cached = rowsCache.get(source);
  if (!cached || cached.revision !== revision || cached.monitors !== monitors) rowsCache.set(source, (cached = { revision, monitors, rows: {} }));
  return (cached.rows[view] ??= buildRows(source, view));
}

/**
 * The rows last built from one checks() array for a view, and what each entry of that array was then. The board
 * hands out the same array while no check is added or removed and replaces changed entries in place, so a later
 * request rebuilds only the rows whose entries changed (a board of 200,000 checks moves ~700 times a second at
 * a 5-minute interval, so the revision alone rarely holds from one request to the next).
 */
interface BuiltRows {
  monitors: readonly ResolvedMonitor[];
  rows: MonitorRow[];
  /** checks() as the rows were built from it. */
  seen: CheckStatus[];
  /** For each entry of checks(): its row in rows and its place in that row's checks, or -1 when not shown. */
  rowAt: Int32Array;
  slotAt: Int32Array;
}

const builtCache = new WeakMap<readonly CheckStatus[], Partial<Record<StatusView, BuiltRows>>>();

function buildRows(source: StatusSource, view: StatusView): MonitorRow[] {
  const monitors = source.monitors();
  const list = source.checks();
  let views = builtCache.get(list);
  if (!views) builtCache.set(list, (views = {}));
  const built = views[view];
  const rows = built && built.monitors === monitors ? refreshRows(built, list) : undefined;
  if (rows) return rows;
  const fresh = buildAll(monitors, list, view);
  views[view] = fresh;
  return fresh.rows;
}

function buildAll(monitors: readonly ResolvedMonitor[], list: readonly CheckStatus[], view: StatusView): BuiltRows {
  const { list: entries } = monitorEntries(monitors);
  const byMonitor = new Map<string, number[]>();
  list.forEach((status, i) => {
    const at = byMonitor.get(status.monitor);
    if (at) at.push(i);
    else byMonitor.set(status.monitor, [i]);
  });
  const rowAt = new Int32Array(list.length).fill(-1);
  const slotAt = new Int32Array(list.length).fill(-1);
  const rows: MonitorRow[] = [];
  for (const monitor of entries) {
    if (view === 'public' && !monitor.public) continue;
    const at = byMonitor.get(monitor.name);
    if (!at) continue;
    at.forEach((i, slot) => {
      rowAt[i] = rows.length;
      slotAt[i] = slot;
    });
    rows.push(
      monitorRow(
        monitor,
        at.map((i) => checkRow(list[i] as CheckStatus)),
      ),
    );
  }
  return { monitors, rows, seen: [...list], rowAt, slotAt };
}

/** The built rows with the entries changed since replaced; the same array when none changed; undefined when the list was not changed in place. */
function refreshRows(built: BuiltRows, list: readonly CheckStatus[]): MonitorRow[] | undefined {
  const { seen, rowAt, slotAt } = built;
  if (list.length !== seen.length) return undefined;
  let rows: MonitorRow[] | undefined;
  for (let i = 0; i < list.length; i++) {
    const status = list[i] as CheckStatus;
    const before = seen[i] as CheckStatus;
    if (status === before) continue;
    if (status.monitor !== before.monitor || status.check !== before.check) return undefined;
    seen[i] = status;
    const r = rowAt[i] ?? -1;
    if (r < 0) continue;
    rows ??= built.rows.slice();
    const row = rows[r] as MonitorRow;
    const checks = row.checks.slice();
    checks[slotAt[i] ?? 0] = checkRow(status);
    rows[r] = monitorRow(row.monitor, checks);
  }
  if (!rows) return built.rows;
  // Who is listed and how they are named did not change: only the counts are the new rows' own.
  const { counts: _stale, ...kept } = derivedOf(built.rows);
  derived.set(rows, { ...kept });
  built.rows = rows;
  return rows;
}

function checkRow(status: CheckStatus): CheckRow {
  return { check: status.check, state: checkState(status), status };
}

function monitorRow(monitor: MonitorEntry, checks: CheckRow[]): MonitorRow {
  return { monitor, checks, state: worstState(checks.map((check) => check.state)) };
}

// What a page derives from all its rows, kept with the rows (monitorRows hands out the same array while nothing
// changed): 100,000 monitors counted, grouped and named once, not on every request.
const derived = new WeakMap<
  readonly MonitorRow[],
  { counts?: StatusCounts; groups?: string[]; names?: ReadonlySet<string>; labels?: ReadonlyMap<string, string> }
>();

function derivedOf(rows: readonly MonitorRow[]): {
  counts?: StatusCounts;
  groups?: string[];
  names?: ReadonlySet<string>;
  labels?: ReadonlyMap<string, string>;
} {
  let found = derived.get(rows);
  if (!found) derived.set(rows, (found = {}));
  return found;
}

export function countRows(rows: readonly MonitorRow[]): StatusCounts {
  const found = derivedOf(rows);
  if (found.counts) return found.counts;
  const checks: Record<CheckState, number> = { ok: 0, fail: 0, unknown: 0 };
  for (const row of rows) for (const check of row.checks) checks[check.state]++;
  return (found.counts = { monitors: rows.length, checks });
}

/** The monitors' names, as a set (which incidents a page may show). */
export function namesOf(rows: readonly MonitorRow[]): ReadonlySet<string> {
  const found = derivedOf(rows);
  return (found.names ??= new Set(rows.map((row) => row.monitor.name)));
}

/** Each monitor's label by name. */
export function labelsOf(rows: readonly MonitorRow[]): ReadonlyMap<string, string> {
  const found = derivedOf(rows);
  return (found.labels ??= new Map(rows.map((row) => [row.monitor.name, row.monitor.label])));
}

const FILTER_STATE: Record<Exclude<StateFilter, 'all'>, CheckState> = { failing: 'fail', ok: 'ok', unknown: 'unknown' };

export function filterRows(rows: readonly MonitorRow[], query: StatusQuery, view: StatusView): readonly MonitorRow[] {
  if (query.q === '' && query.state === 'all' && query.group === '') return rows;
  const needle = query.q.toLowerCase();
  const wanted = query.state === 'all' ? undefined : FILTER_STATE[query.state];
  return rows.filter(
    (row) =>
      (wanted === undefined || row.checks.some((check) => check.state === wanted)) &&
      (query.group === '' || row.monitor.group === query.group) &&
      (needle === '' || row.monitor.search[view].includes(needle)),
  );
}

export function groupsOf(rows: readonly MonitorRow[]): string[] {
  const found = derivedOf(rows);
  return (found.groups ??= [...new Set(rows.map((row) => row.monitor.group))]);
}

export interface PageSlice {
  rows: MonitorRow[];
  page: number;
  pages: number;
}

export function pageOf(rows: readonly MonitorRow[], page: number, size: number): PageSlice {
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const current = Math.min(page, pages);
  return { rows: rows.slice((current - 1) * size, current * size), page: current, pages };
}

/**
 * The history of the page's checks only: the store is asked for what is rendered, never for all 20,000. A
 * store that cannot be read (database down) leaves the page up with live states and no history.
 */
export async function historyOf(
  source: StatusSource,
  rows: readonly MonitorRow[],
): Promise<{ summaries: Map<string, CheckHistorySummary>; unavailable: boolean }> {
  const summaries = new Map<string, CheckHistorySummary>();
  if (!source.history || rows.length === 0) return { summaries, unavailable: false };
  const checks = rows.flatMap((row) => row.checks.map((check) => ({ monitor: row.monitor.name, check: check.check })));
  try {
    for (const summary of await source.history.checkSummaries({ now: source.now(), days: HISTORY_DAYS, checks })) {
      summaries.set(historyKey(summary.monitor, summary.check), summary);
    }
    return { summaries, unavailable: false };
  } catch {
    return { summaries: new Map(), unavailable: true };
  }
}

export function historyKey(monitor: string, check: CheckKind): string {
  return `${monitor}\u0000${check}`;
}

/** 90 days with nothing recorded, for a check the store has no rows for (or when no store is configured). */
export function emptyDays(now: number): DaySummary[] {
  const days: DaySummary[] = [];
  for (let i = HISTORY_DAYS - 1; i >= 0; i--) {
    const day = new Date(now - i * DAY_MS).toISOString().slice(0, 10);
    days.push({ day, okSeconds: 0, failSeconds: 0, maintenanceSeconds: 0, unknownSeconds: 86_400 });
  }
  return days;
}

export type DayState = 'ok' | 'fail' | 'maintenance' | 'unknown';

/** A day is shown by its worst accounted state: any failure marks it, then maintenance, then ok. */
export function dayState(day: DaySummary): DayState {
  if (day.failSeconds > 0) return 'fail';
  if (day.maintenanceSeconds > 0) return 'maintenance';
  if (day.okSeconds > 0) return 'ok';
  return 'unknown';
}

export function dayAvailability(day: DaySummary): number | null {
  const counted = day.okSeconds + day.failSeconds;
  return counted > 0 ? day.okSeconds / counted : null;
}

export const NO_AVAILABILITY: Record<AvailabilityWindow, number | null> = { '24h': null, '7d': null, '30d': null, '90d': null };

/**
 * Recent incidents of the shown monitors, newest first; without a store, or while it cannot be read, the open
 * ones the board knows (unavailable says which).
 */
export async function recentIncidents(
  source: StatusSource,
  visible: ReadonlySet<string>,
  limit: number,
): Promise<{ incidents: IncidentSummary[]; unavailable: boolean }> {
  const now = source.now();
  const fallback = (): IncidentSummary[] => openIncidents(source, visible).slice(0, limit);
  if (!source.history) return { incidents: fallback(), unavailable: false };
  try {
    // Hidden monitors' incidents are dropped after the query, so ask for more than the page shows.
    const found = await source.history.incidents({ from: now - HISTORY_DAYS * DAY_MS, to: now, limit: limit * 5 });
    return { incidents: found.filter((incident) => visible.has(incident.monitor)).slice(0, limit), unavailable: false };
  } catch {
    return { incidents: fallback(), unavailable: true };
  }
}

/**
 * The shown monitors' open incidents, newest first: with a store, as it stored them (the diagnosis made at the
 * first failure with them), the one source of truth; without one, or while it cannot be read, as the board has them.
 */
export async function currentIncidents(source: StatusSource, visible: ReadonlySet<string>): Promise<IncidentSummary[]> {
  if (!source.history) return openIncidents(source, visible);
  const now = source.now();
  try {
    // Open at `now`: started before it and not ended by it, however long ago it began.
    const found = await source.history.incidents({ from: now, to: now + 1, limit: OPEN_INCIDENTS_MAX });
    return found.filter((incident) => incident.endedAt === undefined && visible.has(incident.monitor));
  } catch {
    return openIncidents(source, visible);
  }
}

/** Open incidents a feed lists at most; each is one check failing now, so this is far above any real count. */
const OPEN_INCIDENTS_MAX = 1000;

/** The open incidents as the board has them (no history store), with the diagnosis of the latest failure. */
export function openIncidents(source: StatusSource, visible: ReadonlySet<string>): IncidentSummary[] {
  const open: IncidentSummary[] = [];
  for (const status of source.checks()) {
    if (status.state !== 'failing' || !visible.has(status.monitor)) continue;
    const startedAt = Date.parse(status.since ?? status.last?.at ?? '');
    open.push({
      monitor: status.monitor,
      tenant: status.tenant,
      check: status.check,
      startedAt: Number.isFinite(startedAt) ? startedAt : source.now(),
      reason: status.last?.reason ?? 'internal_error',
      stage: status.last?.stage ?? 'config',
      ...(status.last?.serverText !== undefined ? { serverText: status.last.serverText } : {}),
      ...(status.cause !== undefined ? { cause: status.cause } : {}),
      ...(status.last?.summary !== undefined ? { diagnosis: incidentDiagnosis({ summary: status.last.summary, fixes: status.last.fixes ?? [] }) } : {}),
    });
  }
  return open.sort((a, b) => b.startedAt - a.startedAt);
}
