/* eslint-disable @typescript-eslint/restrict-template-expressions -- html`` fragments are escaped markup objects whose toString is the markup */
import type { CheckHistorySummary, IncidentSummary } from '../../history/reader.js';
import { AVAILABILITY_WINDOWS } from '../../history/reader.js';
import { html, Html, join } from './html.js';
import {
  countRows,
  dayAvailability,
  dayState,
  emptyDays,
  filterRows,
  groupsOf,
  historyKey,
  historyOf,
  labelsOf,
  monitorRows,
  namesOf,
  NO_AVAILABILITY,
  pageOf,
  queryString,
  recentIncidents,
  STATE_FILTERS,
  type CheckRow,
  type CheckState,
  type MonitorEntry,
  type MonitorRow,
  type StatusCounts,
  type StatusQuery,
  type StatusSource,
  type StatusView,
} from './model.js';
import { CHECK_LABELS, duration, percent, plainReason, STATE_LABELS, utc, utcSince } from './words.js';
import { plainCause } from '../../core/cause.js';
import type { SignInStatus } from '../../core/status.js';

export const STATUS_PATHS = {
  public: '/status',
  detail: '/status/detail',
  css: '/status/status.css',
  atom: '/status/feed.atom',
  summary: '/status/summary.json',
} as const;

const INCIDENTS_SHOWN = 20;

/** The whole page for one request: the rows are filtered and paged first, then only that page's history is read. */
export async function renderStatusPage(source: StatusSource, view: StatusView, query: StatusQuery): Promise<string> {
  const settings = source.settings();
  const now = source.now();
  const all = monitorRows(source, view);
  const filtered = filterRows(all, query, view);
  const slice = pageOf(filtered, query.page, settings.pageSize);
  const showIncidents = view === 'detail' || settings.incidents;
  const showReasons = view === 'detail' || settings.reasons;
  const visible = namesOf(filtered);
  // Both read the store: asked at once, not one after the other.
  const [{ summaries: history, unavailable: historyDown }, recent] = await Promise.all([
    historyOf(source, slice.rows),
    showIncidents ? recentIncidents(source, visible, INCIDENTS_SHOWN) : { incidents: [], unavailable: false },
  ]);
  const incidents = recent.incidents;
  const labels = labelsOf(all);
  const base = view === 'detail' ? STATUS_PATHS.detail : STATUS_PATHS.public;
  const counts = countRows(all);
  const title = view === 'detail' ? `${settings.title} (detailed)` : settings.title;

  const body = html`<a class="skip" href="#main">Skip to the checks</a>
<div class="wrap">
<header class="top"><h1>${title}</h1><p class="meta">Updated <time datetime="${new Date(now).toISOString()}">${utc(now)}</time> · ${refreshNote(query, base, settings.refreshSeconds)}</p></header>
${banner(counts, query, base)}
${filterForm(query, base, groupsOf(all))}
<main id="main">
${historyDown || recent.unavailable ? html`<p class="notice" role="status">The history cannot be read right now: the current states are live, the bars and figures will return.</p>` : ''}
${resultLine(filtered.length, all.length, slice.page, slice.pages)}
${legend()}
${groupSections(slice.rows, { view, now, history, showReasons, ...(source.signIn ? { signIn: (tenant: string) => source.signIn?.(tenant) } : {}) })}
${pager(query, base, slice.page, slice.pages)}
${showIncidents ? incidentSection(incidents, labels, { view, now, showReasons }) : ''}
</main>
<footer><span>Times in UTC.</span><a href="${STATUS_PATHS.atom}">Incident feed (Atom)</a><a href="${STATUS_PATHS.summary}">summary.json</a>${
    view === 'detail'
      ? html`<a href="${STATUS_PATHS.public}${queryString(query)}">Public view</a>`
      : html`<a href="${STATUS_PATHS.detail}${queryString(query)}">Detailed view (operators)</a>`
  }<span>mailprobe</span></footer>
</div>`;

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${html`${counts.checks.fail > 0 ? `(${counts.checks.fail} failing) ` : ''}${title}`}</title>
<meta name="color-scheme" content="light dark">${view === 'detail' ? '<meta name="robots" content="noindex">' : ''}
<link rel="stylesheet" href="${STATUS_PATHS.css}">
<link rel="alternate" type="application/atom+xml" title="Incidents" href="${STATUS_PATHS.atom}">
</head><body>
${body}
</body></html>
`;
}

const ICONS: Record<CheckState, Html> = {
  ok: html`<svg class="icon ok" viewBox="0 0 16 16" aria-hidden="true" focusable="false"><path d="M8 0a8 8 0 1 1 0 16A8 8 0 0 1 8 0Zm3.3 4.8L7 9.1 4.7 6.8 3.6 7.9 7 11.3l5.4-5.4-1.1-1.1Z"/></svg>`,
  fail: html`<svg class="icon fail" viewBox="0 0 16 16" aria-hidden="true" focusable="false"><path d="M8 0a8 8 0 1 1 0 16A8 8 0 0 1 8 0Zm2.5 4.4L8 6.9 5.5 4.4 4.4 5.5 6.9 8l-2.5 2.5 1.1 1.1L8 9.1l2.5 2.5 1.1-1.1L9.1 8l2.5-2.5-1.1-1.1Z"/></svg>`,
  unknown: html`<svg class="icon unknown" viewBox="0 0 16 16" aria-hidden="true" focusable="false"><path d="M8 0a8 8 0 1 1 0 16A8 8 0 0 1 8 0Zm0 1.6a6.4 6.4 0 1 0 0 12.8A6.4 6.4 0 0 0 8 1.6ZM7.2 10.4h1.6V12H7.2v-1.6Zm.8-6.8c1.5 0 2.7 1 2.7 2.3 0 1.1-.7 1.6-1.3 2-.4.3-.6.5-.6.9v.4H7.2v-.5c0-.9.5-1.4 1-1.7.5-.3.9-.6.9-1.1 0-.5-.5-.9-1.1-.9-.6 0-1.1.4-1.2 1H5.3c.1-1.4 1.2-2.4 2.7-2.4Z"/></svg>`,
};

function refreshNote(query: StatusQuery, base: string, seconds: number): Html {
  // The Refresh header carries the reload (no script, no meta refresh); this link is how a reader stops it.
  if (query.refresh) return html`Reloads every ${seconds} s · <a href="${base}${queryString(query, { refresh: false })}">Stop reloading</a>`;
  return html`Not reloading · <a href="${base}${queryString(query, { refresh: true })}">Reload every ${seconds} s</a>`;
}

function banner(counts: StatusCounts, query: StatusQuery, base: string): Html {
  const total = counts.checks.ok + counts.checks.fail + counts.checks.unknown;
  if (total === 0) return html`<section class="banner" aria-label="Overall status">${ICONS.unknown}<p><strong>No monitors to show.</strong></p></section>`;
  if (counts.checks.fail > 0) {
    return html`<section class="banner fail" aria-label="Overall status">${ICONS.fail}<p><strong>${counts.checks.fail} of ${total} checks failing</strong> <a href="${base}${queryString(query, { state: 'failing', page: 1 })}">Show only failing</a></p></section>`;
  }
  if (counts.checks.unknown === total)
    return html`<section class="banner" aria-label="Overall status">${ICONS.unknown}<p><strong>Waiting for the first results.</strong></p></section>`;
  const waiting = counts.checks.unknown > 0 ? html` <span class="muted">(${counts.checks.unknown} waiting for a first result)</span>` : '';
  return html`<section class="banner ok" aria-label="Overall status">${ICONS.ok}<p><strong>All checks are passing.</strong>${waiting}</p></section>`;
}

const FILTER_LABELS: Record<(typeof STATE_FILTERS)[number], string> = { all: 'All states', failing: 'Failing', ok: 'Operational', unknown: 'No data yet' };

function filterForm(query: StatusQuery, base: string, groups: readonly string[]): Html {
  const options = STATE_FILTERS.map((state) => html`<option value="${state}"${query.state === state ? html` selected` : ''}>${FILTER_LABELS[state]}</option>`);
  const groupOptions = groups.map((group) => html`<option${query.group === group ? html` selected` : ''}>${group}</option>`);
  return html`<form class="filters" method="get" action="${base}" role="search" aria-label="Filter monitors">
<label>Search<input type="search" name="q" value="${query.q}" placeholder="Name or group" maxlength="100"></label>
<label>State<select name="state">${options}</select></label>
<label>Group<select name="group"><option value="">All groups</option>${groupOptions}</select></label>
${query.refresh ? '' : html`<input type="hidden" name="refresh" value="0">`}<button type="submit">Apply</button>${
    query.q || query.state !== 'all' || query.group
      ? html` <a href="${base}${queryString({ ...query, q: '', state: 'all', group: '', page: 1 })}">Clear</a>`
      : ''
  }
</form>`;
}

function resultLine(shown: number, total: number, page: number, pages: number): Html {
  const of = shown === total ? `${total} monitors` : `${shown} of ${total} monitors match`;
  return html`<p class="counts muted" aria-live="polite">${of}${pages > 1 ? ` · page ${page} of ${pages}` : ''}</p>`;
}

function legend(): Html {
  return html`<ul class="legend" aria-label="Legend of the daily bars">
<li><span class="b" aria-hidden="true"></span>Operational all day</li>
<li><span class="b f" aria-hidden="true"></span>Failed during the day (striped)</li>
<li><span class="b m" aria-hidden="true"></span>Maintenance (banded)</li>
<li><span class="b u" aria-hidden="true"></span>No data (short, grey)</li>
</ul>`;
}

interface RowContext {
  view: StatusView;
  now: number;
  history: Map<string, CheckHistorySummary>;
  showReasons: boolean;
  signIn?: StatusSource['signIn'];
}

function groupSections(rows: readonly MonitorRow[], context: RowContext): Html {
  if (rows.length === 0) return html`<p class="empty">No monitor matches these filters.</p>`;
  const sections: Html[] = [];
  let start = 0;
  while (start < rows.length) {
    const group = rows[start]?.monitor.group ?? '';
    let end = start;
    while (end < rows.length && rows[end]?.monitor.group === group) end++;
    const members = rows.slice(start, end);
    const failing = members.filter((row) => row.state === 'fail').length;
    const id = `g-${sections.length}`;
    sections.push(html`<section class="group" aria-labelledby="${id}"><h2 id="${id}"><span>${group}</span><span class="muted">${failing > 0 ? `${failing} failing` : `${members.length} monitor${members.length === 1 ? '' : 's'}`}</span></h2>
${join(members.map((row) => monitorCard(row, context)))}</section>`);
    start = end;
  }
  return join(sections, '\n');
}

function monitorCard(row: MonitorRow, context: RowContext): Html {
  const monitor = row.monitor;
  const identity = context.view === 'detail' ? html`<span class="meta">${monitor.name} · ${monitor.mailbox} · tenant ${monitor.tenant}</span>` : '';
  return html`<article class="monitor" id="m-${monitor.name}" aria-labelledby="h-${monitor.name}"><header><h3 id="h-${monitor.name}">${monitor.label}</h3>${identity}</header>
${context.view === 'detail' ? signInLine(monitor, context) : ''}${causeLine(row, context)}${join(row.checks.map((check) => checkBlock(row, check, context)))}</article>
`;
}

const LAPSE_CAUSE: Record<SignInStatus['cause'], string> = { inactivity: '90 days unused', sign_in_frequency: 'sign-in frequency' };

// A delegated monitor rests on one person's sign-in, which lapses unless renewed: when, and why, before it happens.
function signInLine(monitor: MonitorEntry, context: RowContext): Html | '' {
  if (monitor.account === undefined) return '';
  const login = html`<code>mailprobe login --monitor ${monitor.name}</code>`;
  const signIn = context.signIn?.(monitor.tenant);
  if (!signIn)
    return html`<p class="meta signin">Delegated sign-in of ${monitor.account}: none on record, ${login}</p>
`;
  const at = (ms: number): Html => html`<time datetime="${new Date(ms).toISOString()}">${utc(ms)}</time>`;
  const why = LAPSE_CAUSE[signIn.cause];
  const lapse =
    signIn.lapsesAt > context.now
      ? html`lapses ${at(signIn.lapsesAt)} (in ${duration(signIn.lapsesAt - context.now)}, ${why}) unless renewed`
      : html`<strong>lapsed</strong> ${at(signIn.lapsesAt)} (${why}): ${login}`;
  return html`<p class="meta signin">Delegated sign-in of ${signIn.account}: signed in ${at(signIn.signedInAt)}, last renewed ${at(signIn.refreshedAt)}, ${lapse}</p>
`;
}

// The monitor's cause, weighed over all its checks (core/cause.ts): the first thing to read on a failing monitor.
function causeLine(row: MonitorRow, context: RowContext): Html | '' {
  const cause = row.state === 'fail' && context.showReasons ? row.checks.find((check) => check.status.cause !== undefined)?.status.cause : undefined;
  if (cause === undefined) return '';
  const code = context.view === 'detail' ? html` <code>cause ${cause}</code>` : '';
  return html`<p class="cause fail">${plainCause(cause)}${code}</p>`;
}

function checkBlock(row: MonitorRow, check: CheckRow, context: RowContext): Html {
  const last = check.status.last;
  const summary = context.history.get(historyKey(row.monitor.name, check.check));
  const label = CHECK_LABELS[check.check];
  const since = check.status.since === undefined ? undefined : Date.parse(check.status.since);
  const sinceText =
    since !== undefined
      ? html`<span class="since">for ${duration(context.now - since)} · since <time datetime="${check.status.since}">${utcSince(since, context.now)}</time></span>`
      : html`<span class="since">not run yet</span>`;
  const reason = check.state === 'fail' && context.showReasons ? html`<p class="reason fail">${plainReason(last?.reason)}</p>` : '';
  return html`<div class="check"><div class="check-head"><span class="check-name">${label}</span><span class="pill ${check.state}">${ICONS[check.state]}${STATE_LABELS[check.state]}</span>${sinceText}</div>
${reason}${context.view === 'detail' && check.state === 'fail' ? detailBlock(row, check) : ''}${historyBlock(label, summary, context.now)}</div>
`;
}

function detailBlock(row: MonitorRow, check: CheckRow): Html {
  const last = check.status.last;
  const facts: Array<[string, string | undefined]> = [
    ['Mailbox', row.monitor.mailbox],
    ['Tenant', `${row.monitor.tenant} (${row.monitor.tenantId})`],
    ['App (client) ID', row.monitor.clientId],
    ['Stage', last?.stage],
    ['Reason code', last?.reason],
    ['Failed runs in a row', String(check.status.consecutiveFailures)],
    ['Last success', check.status.lastSuccessAt === undefined ? undefined : utc(Date.parse(check.status.lastSuccessAt))],
    ['Last run', last?.at === undefined ? undefined : utc(Date.parse(last.at))],
  ];
  return html`<details class="detail" open><summary>Diagnosis and fix</summary>
${last?.summary ? html`<p>${last.summary}</p>` : ''}${last?.serverText ? html`<p>The server said:</p><pre>${last.serverText}</pre>` : ''}${
    last?.candidates?.length ? html`<p>Likely causes, most likely first:</p><ol>${last.candidates.map((candidate) => html`<li>${candidate}</li>`)}</ol>` : ''
  }${last?.fixes?.length ? html`<p>Fix:</p><ol class="fixes">${last.fixes.map((fix) => html`<li><code>${fix}</code></li>`)}</ol>` : ''}
<dl>${facts.filter((fact): fact is [string, string] => fact[1] !== undefined).map(([term, value]) => html`<dt>${term}</dt><dd>${value}</dd>`)}</dl>
</details>`;
}

const BAR_CLASS = { ok: 'b', fail: 'b f', maintenance: 'b m', unknown: 'b u' } as const;

function historyBlock(label: string, summary: CheckHistorySummary | undefined, now: number): Html {
  const days = summary?.days ?? emptyDays(now);
  const availability = summary?.availability ?? NO_AVAILABILITY;
  // One string build per bar: 100 checks × 90 bars per page is the hot loop of the whole page.
  let bars = '';
  for (const day of days) {
    const state = dayState(day);
    bars += `<li class="${BAR_CLASS[state]}" tabindex="0" aria-label="${day.day}: ${barText(state, day)}"></li>`;
  }
  return html`<div class="history"><ol class="bars" aria-label="${label}: one bar per day, last ${days.length} days">${new Html(bars)}</ol>
<div class="axis" aria-hidden="true"><span>${days.length} days ago</span><span>today</span></div>
<dl class="avail">${AVAILABILITY_WINDOWS.map((window) => html`<div><dt>${window.replace('h', ' h').replace('d', ' d')}</dt><dd>${percent(availability[window])}</dd></div>`)}</dl></div>`;
}

function barText(state: ReturnType<typeof dayState>, day: CheckHistorySummary['days'][number]): string {
  const available = dayAvailability(day);
  if (state === 'unknown') return 'no data';
  const parts = [`${percent(available)} available`];
  if (day.failSeconds > 0) parts.push(`failing ${duration(day.failSeconds * 1000)}`);
  if (day.maintenanceSeconds > 0) parts.push(`maintenance ${duration(day.maintenanceSeconds * 1000)}`);
  return parts.join(', ');
}

function pager(query: StatusQuery, base: string, page: number, pages: number): Html {
  if (pages <= 1) return html``;
  const link = (target: number, text: string, rel: string): Html => html`<a href="${base}${queryString(query, { page: target })}" rel="${rel}">${text}</a>`;
  return html`<nav class="pager" aria-label="Pages">${page > 1 ? link(1, '« First', 'first') : ''}${page > 1 ? link(page - 1, '‹ Previous', 'prev') : ''}<span>Page ${page} of ${pages}</span>${
    page < pages ? link(page + 1, 'Next ›', 'next') : ''
  }${page < pages ? link(pages, 'Last »', 'last') : ''}</nav>`;
}

function incidentSection(
  incidents: readonly IncidentSummary[],
  labels: ReadonlyMap<string, string>,
  context: { view: StatusView; now: number; showReasons: boolean },
): Html {
  const items = incidents.map((incident) => {
    const open = incident.endedAt === undefined;
    const lasted = open
      ? html`ongoing for ${duration(context.now - incident.startedAt)}`
      : html`lasted ${duration((incident.endedAt ?? 0) - incident.startedAt)}`;
    const cause = context.showReasons
      ? html`<p>${plainReason(incident.reason)}</p>${incident.cause !== undefined ? html`<p class="muted">${plainCause(incident.cause)}</p>` : ''}`
      : '';
    const server =
      context.view === 'detail' && incident.serverText
        ? html`<p class="muted">Stage ${incident.stage}, ${incident.reason}: <code>${incident.serverText}</code></p>`
        : '';
    // What was diagnosed at the first failure, as the store keeps it: never re-derived for the page.
    const diagnosis =
      context.view === 'detail' && incident.diagnosis
        ? html`<p>${incident.diagnosis.summary}</p><p class="muted">First fix: <code>${incident.diagnosis.fix}</code></p>`
        : '';
    return html`<li class="${open ? 'open' : 'closed'}"><p><strong>${labels.get(incident.monitor) ?? incident.monitor} · ${CHECK_LABELS[incident.check]}</strong> — ${
      open ? 'ongoing' : 'resolved'
    }</p>${cause}${diagnosis}${server}<p class="muted">Started <time datetime="${new Date(incident.startedAt).toISOString()}">${utc(incident.startedAt)}</time>, ${lasted}</p></li>`;
  });
  return html`<section aria-labelledby="incidents"><h2 id="incidents">Recent incidents</h2>${
    items.length ? html`<ol class="incidents">${items}</ol>` : html`<p class="empty">No incidents in the last 90 days.</p>`
  }</section>`;
}
