import { createHash } from 'node:crypto';
import type { IncidentSummary } from '../../history/reader.js';
import { escapeText } from './html.js';
import { currentIncidents, labelsOf, monitorRows, recentIncidents, type CheckRow, type MonitorRow, type StatusSource } from './model.js';
import { STATUS_PATHS } from './page.js';
import { CHECK_LABELS, duration, plainReason, utc } from './words.js';

const FEED_ENTRIES = 50;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Atom (RFC 4287) of the public monitors' incidents, newest first; ids stay the same across polls. */
export async function atomFeed(source: StatusSource): Promise<string> {
  const settings = source.settings();
  const rows = monitorRows(source, 'public');
  const labels = labelsOf(rows);
  const incidents = settings.incidents ? (await recentIncidents(source, new Set(labels.keys()), FEED_ENTRIES)).incidents : [];
  const now = source.now();
  const updated = incidents.reduce((latest, incident) => Math.max(latest, incident.endedAt ?? incident.startedAt), 0) || now;
  const entries = incidents.map((incident) => {
    const name = `${labels.get(incident.monitor) ?? incident.monitor} · ${CHECK_LABELS[incident.check]}`;
    const state = incident.endedAt === undefined ? 'ongoing' : 'resolved';
    const cause = settings.reasons ? ` — ${plainReason(incident.reason)}` : '';
    const lasted =
      incident.endedAt === undefined
        ? `ongoing for ${duration(now - incident.startedAt)}`
        : `lasted ${duration(incident.endedAt - incident.startedAt)}, until ${utc(incident.endedAt)}`;
    return `<entry><id>urn:mailprobe:incident:${escapeText(encodeURIComponent(incident.monitor))}:${incident.check}:${incident.startedAt}</id>
<title>${escapeText(`${name}: ${state}${cause}`)}</title>
<published>${iso(incident.startedAt)}</published><updated>${iso(incident.endedAt ?? incident.startedAt)}</updated>
<link rel="alternate" type="text/html" href="${STATUS_PATHS.public}#m-${escapeText(encodeURIComponent(incident.monitor))}"/>
<summary type="text">${escapeText(`Started ${utc(incident.startedAt)}, ${lasted}.`)}</summary></entry>`;
  });
  return `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
<title>${escapeText(`${settings.title}: incidents`)}</title>
<id>urn:mailprobe:status:${stableId(settings.title)}</id>
<updated>${iso(updated)}</updated>
<author><name>mailprobe</name></author>
<link rel="self" type="application/atom+xml" href="${STATUS_PATHS.atom}"/>
<link rel="alternate" type="text/html" href="${STATUS_PATHS.public}"/>
${entries.join('\n')}
</feed>
`;
}

function stableId(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

// A digest per monitor per request was most of summary.json's time at 100,000 monitors; the entries live as long
// as the configuration, and so do their ids.
const monitorIds = new WeakMap<MonitorRow['monitor'], string>();

function monitorId(monitor: MonitorRow['monitor']): string {
  let id = monitorIds.get(monitor);
  if (id === undefined) monitorIds.set(monitor, (id = stableId(`monitor\u0000${monitor.name}`)));
  return id;
}

export type ComponentStatus = 'operational' | 'degraded_performance' | 'partial_outage' | 'major_outage';

/**
 * Atlassian Statuspage's component states from the checks: all failing is a major outage, some failing a
 * partial one, and a failure seen only once so far (not yet confirmed by a second run) degraded performance.
 */
export function componentStatus(checks: readonly CheckRow[]): ComponentStatus {
  const failing = checks.filter((check) => check.state === 'fail');
  if (failing.length === 0) return 'operational';
  if (failing.every((check) => check.status.consecutiveFailures <= 1)) return 'degraded_performance';
  return failing.length === checks.length ? 'major_outage' : 'partial_outage';
}

const STATUS_RANK: Record<ComponentStatus, number> = { operational: 0, degraded_performance: 1, partial_outage: 2, major_outage: 3 };

const INDICATOR = {
  none: 'All Systems Operational',
  minor: 'Minor Service Outage',
  major: 'Partial System Outage',
  critical: 'Major Service Outage',
} as const;

/** Statuspage's /api/v2/summary.json shape, so its widgets and clients read mailprobe unchanged. */
export async function statuspageSummary(source: StatusSource): Promise<unknown> {
  const settings = source.settings();
  const now = iso(source.now());
  const pageId = stableId(settings.title);
  const rows = monitorRows(source, 'public');
  const groups = new Map<string, MonitorRow[]>();
  for (const row of rows) {
    const members = groups.get(row.monitor.group);
    if (members) members.push(row);
    else groups.set(row.monitor.group, [row]);
  }

  const components: Array<Record<string, unknown>> = [];
  const byMonitor = new Map<string, Record<string, unknown>>();
  let position = 1;
  for (const [group, members] of groups) {
    const groupId = stableId(`group\u0000${group}`);
    const statuses = members.map((row) => componentStatus(row.checks));
    const worst = statuses.reduce<ComponentStatus>((acc, status) => (STATUS_RANK[status] > STATUS_RANK[acc] ? status : acc), 'operational');
    components.push(
      component(groupId, group, worst, position++, pageId, now, {
        group: true,
        components: members.map((row) => monitorId(row.monitor)),
      }),
    );
    members.forEach((row, index) => {
      const updated = latestRun(row.checks) ?? now;
      const entry = component(monitorId(row.monitor), row.monitor.label, statuses[index] ?? 'operational', position++, pageId, updated, {
        group_id: groupId,
      });
      components.push(entry);
      byMonitor.set(row.monitor.name, entry);
    });
  }

  const monitorStatuses = rows.map((row) => componentStatus(row.checks));
  const broken = monitorStatuses.filter((status) => status !== 'operational');
  const indicator: keyof typeof INDICATOR =
    broken.length === 0
      ? 'none'
      : broken.length === rows.length && broken.every((s) => s === 'major_outage')
        ? 'critical'
        : broken.includes('major_outage')
          ? 'major'
          : 'minor';

  const open = await currentIncidents(source, new Set(byMonitor.keys()));
  const labels = labelsOf(rows);
  return {
    page: { id: pageId, name: settings.title, url: STATUS_PATHS.public, time_zone: 'Etc/UTC', updated_at: now },
    components,
    incidents: open.map((incident) => statuspageIncident(incident, labels, byMonitor, pageId, settings.reasons, now)),
    scheduled_maintenances: [],
    status: { indicator, description: INDICATOR[indicator] },
  };
}

function latestRun(checks: readonly CheckRow[]): string | undefined {
  return checks
    .map((check) => check.status.last?.at)
    .filter((at): at is string => at !== undefined)
    .sort()
    .at(-1);
}

function component(
  id: string,
  name: string,
  status: ComponentStatus,
  position: number,
  pageId: string,
  updated: string,
  extra: Record<string, unknown>,
): Record<string, unknown> {
  return {
    id,
    name,
    status,
    created_at: updated,
    updated_at: updated,
    position,
    description: null,
    showcase: false,
    start_date: null,
    group_id: null,
    page_id: pageId,
    group: false,
    only_show_if_degraded: false,
    ...extra,
  };
}

function statuspageIncident(
  incident: IncidentSummary,
  labels: ReadonlyMap<string, string>,
  byMonitor: Map<string, Record<string, unknown>>,
  pageId: string,
  reasons: boolean,
  now: string,
): Record<string, unknown> {
  const id = stableId(`incident\u0000${incident.monitor}\u0000${incident.check}\u0000${incident.startedAt}`);
  const started = iso(incident.startedAt);
  const body = reasons ? plainReason(incident.reason) : 'The check is failing.';
  return {
    id,
    name: `${labels.get(incident.monitor) ?? incident.monitor} · ${CHECK_LABELS[incident.check]} failing`,
    status: 'investigating',
    created_at: started,
    updated_at: now,
    monitoring_at: null,
    resolved_at: null,
    impact: 'major',
    shortlink: `${STATUS_PATHS.public}#m-${encodeURIComponent(incident.monitor)}`,
    started_at: started,
    page_id: pageId,
    incident_updates: [
      {
        id: `${id}u`,
        status: 'investigating',
        body,
        incident_id: id,
        created_at: started,
        updated_at: started,
        display_at: started,
        affected_components: null,
        deliver_notifications: false,
      },
    ],
    components: [byMonitor.get(incident.monitor)].filter((entry) => entry !== undefined),
  };
}
