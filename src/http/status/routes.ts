import type { AvailabilityWindow } from '../../history/reader.js';
import { CHECK_KINDS, type CheckKind } from '../../core/check.js';
import { badgeSvg, uptimeColour, type BadgeColour } from './badge.js';
import { atomFeed, statuspageSummary } from './feeds.js';
import { checkState, historyOf, monitorEntries, parseQuery, worstState, type CheckState, type MonitorRow, type StatusSource } from './model.js';
import { renderStatusPage, STATUS_PATHS } from './page.js';
import { STATUS_CSS } from './style.js';
import { CHECK_LABELS } from './words.js';

/** What the listener sends back; headers add to its own (caching, nosniff, compression). */
export interface StatusReply {
  status: number;
  type: string;
  body: string;
  headers?: Record<string, string>;
}

/**
 * public: anyone who reaches the listener. protected: behind the listener's authentication when it has one,
 * like /metrics and /api/*. The detail view is always protected; the rest follows statusPage.public.
 */
export type StatusAccess = 'public' | 'protected';

export interface StatusRoute {
  access: StatusAccess;
  /** Rendering costs CPU in proportion to the monitors: the listener runs only a few such replies at once. */
  heavy: boolean;
  handle(params: URLSearchParams): Promise<StatusReply>;
}

const HTML = 'text/html; charset=utf-8';
const BADGE_PATH = /^\/status\/badge\/([A-Za-z0-9._-]+)(?:\/([a-z0-9]+))?\/(state|uptime-(24h|7d|30d|90d))\.svg$/;

/** The route for a path under /status, or undefined when there is none. */
export function statusRoute(source: StatusSource, path: string): StatusRoute | undefined {
  const open: StatusAccess = source.settings().public ? 'public' : 'protected';
  switch (path) {
    case STATUS_PATHS.public:
    case `${STATUS_PATHS.public}/`:
      return { access: open, heavy: true, handle: (params) => page(source, 'public', params) };
    case STATUS_PATHS.detail:
      return { access: 'protected', heavy: true, handle: (params) => page(source, 'detail', params) };
    case STATUS_PATHS.css:
      // Not private in any setting: it is the same for everyone and the login prompt would need it too.
      return {
        access: 'public',
        heavy: false,
        handle: async () => ({ status: 200, type: 'text/css; charset=utf-8', body: STATUS_CSS, headers: { 'Cache-Control': 'public, max-age=3600' } }),
      };
    case STATUS_PATHS.atom:
      return { access: open, heavy: true, handle: async () => ({ status: 200, type: 'application/atom+xml; charset=utf-8', body: await atomFeed(source) }) };
    case STATUS_PATHS.summary:
      return {
        access: open,
        heavy: true,
        handle: async () => ({ status: 200, type: 'application/json; charset=utf-8', body: `${JSON.stringify(await statuspageSummary(source), null, 2)}\n` }),
      };
    default: {
      const badge = BADGE_PATH.exec(path);
      if (!badge) return undefined;
      const [, monitor = '', check, kind = 'state', window] = badge;
      // An uptime badge reads history; a state badge only the board.
      return {
        access: open,
        heavy: kind !== 'state',
        handle: () => badgeReply(source, monitor, check, kind === 'state' ? undefined : (window as AvailabilityWindow)),
      };
    }
  }
}

async function page(source: StatusSource, view: 'public' | 'detail', params: URLSearchParams): Promise<StatusReply> {
  const query = parseQuery(params);
  const body = await renderStatusPage(source, view, query);
  const refresh = source.settings().refreshSeconds;
  return { status: 200, type: HTML, body, headers: query.refresh ? { Refresh: String(refresh) } : {} };
}

const BADGE_STATE: Record<CheckState, { value: string; colour: BadgeColour }> = {
  ok: { value: 'up', colour: 'ok' },
  fail: { value: 'down', colour: 'fail' },
  unknown: { value: 'no data', colour: 'unknown' },
};

function svg(body: string, status = 200): StatusReply {
  // Image proxies (GitHub's camo) cache by these headers; a minute keeps a README badge close to live.
  return { status, type: 'image/svg+xml; charset=utf-8', body, headers: { 'Cache-Control': 'public, max-age=60' } };
}

async function badgeReply(source: StatusSource, name: string, check: string | undefined, window: AvailabilityWindow | undefined): Promise<StatusReply> {
  const notFound = svg(badgeSvg('status', 'not found', 'unknown'), 404);
  if (check !== undefined && !(CHECK_KINDS as readonly string[]).includes(check)) return notFound;
  const kind = check as CheckKind | undefined;
  const monitor = monitorEntries(source.monitors()).byName.get(name);
  if (!monitor?.public) return notFound;
  const checks = (source.checksOf ? source.checksOf(name) : source.checks().filter((status) => status.monitor === name))
    .filter((status) => kind === undefined || status.check === kind)
    .map((status) => ({ check: status.check, state: checkState(status), status }));
  if (checks.length === 0) return notFound;
  const row: MonitorRow = { monitor, checks, state: worstState(checks.map((entry) => entry.state)) };
  const label = kind === undefined ? monitor.label : `${monitor.label} ${CHECK_LABELS[kind]}`;
  if (window === undefined) return svg(badgeSvg(label, BADGE_STATE[row.state].value, BADGE_STATE[row.state].colour));
  const availability = await windowAvailability(source, row, window);
  const value = availability === null ? 'no data' : `${(Math.floor(availability * 10_000) / 100).toFixed(2)}%`;
  return svg(badgeSvg(`${label} uptime ${window}`, value, uptimeColour(availability)));
}

// A monitor's uptime is its worst check's: the mailbox is only as available as its least available protocol.
async function windowAvailability(source: StatusSource, row: MonitorRow, window: AvailabilityWindow): Promise<number | null> {
  const { summaries } = await historyOf(source, [row]);
  const values = [...summaries.values()].map((summary) => summary.availability[window]).filter((value): value is number => value !== null);
  return values.length ? Math.min(...values) : null;
}
