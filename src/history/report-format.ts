import { escapeControls, neutraliseFormula } from '../core/escape.js';
import { formatLocal } from './calendar.js';
import type { CheckReport, IncidentReport, SlaReport } from './report.js';

// An incident recorded before the history kept causes (schema 4): its cause is not guessed now.
const CAUSE_NOT_RECORDED = 'not recorded';

export const REPORT_FORMATS = ['text', 'md', 'csv', 'json', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export function renderReport(report: SlaReport, format: ReportFormat): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(report, null, 2)}\n`;
    case 'text':
      return textReport(report);
    case 'md':
      return markdownReport(report);
    case 'csv':
      return csvReport(report);
    case 'html':
      return htmlReport(report);
  }
}

export function percent(value: number | null, digits = 3): string {
  return value === null ? 'no data' : `${(value * 100).toFixed(digits)} %`;
}

/** 3725 → "1 h 2 min 5 s". */
export function duration(seconds: number | null): string {
  if (seconds === null) return '–';
  const sign = seconds < 0 ? '-' : '';
  let rest = Math.abs(Math.round(seconds));
  const days = Math.floor(rest / 86_400);
  rest -= days * 86_400;
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const secs = rest - minutes * 60;
  const parts = [
    days ? `${days} d` : '',
    hours ? `${hours} h` : '',
    minutes ? `${minutes} min` : '',
    secs || (!days && !hours && !minutes) ? `${secs} s` : '',
  ].filter(Boolean);
  return sign + parts.slice(0, 3).join(' ');
}

const local = (report: SlaReport, iso: string | null): string => (iso === null ? 'ongoing' : formatLocal(Date.parse(iso), report.period.timeZone));

const slo = (check: CheckReport): string => (check.sloMet === null ? 'no data' : check.sloMet ? 'met' : 'MISSED');

function headline(report: SlaReport): string[] {
  const s = report.summary;
  return [
    `Availability report ${report.period.label} (${local(report, report.period.from)} – ${local(report, report.period.to)} ${report.period.timeZone})`,
    `Overall ${percent(s.availability)} over ${s.checks} checks; SLO met ${s.sloMet}, missed ${s.sloMissed}, no data ${s.noData}; ${s.outages} outages, MTTR ${duration(s.mttrSeconds)}; data coverage ${percent(s.coverage, 1)}.`,
  ];
}

function accountingNote(report: SlaReport): string {
  const a = report.accounting;
  return `Accounting: maintenance excluded; time without a result is UNKNOWN and ${a.unknownCountsAsDown ? 'counts as down' : 'does not count as down'}; failure streaks under ${a.minimumOutage.failures} run(s) or ${a.minimumOutage.seconds} s are blips counted as OK; a delegated monitor whose user must sign in again is counted apart, not as down.`;
}

function textReport(report: SlaReport): string {
  const lines = [...headline(report), accountingNote(report), ''];
  lines.push('Tenants:');
  for (const tenant of report.tenants)
    lines.push(
      `  ${tenant.tenant.padEnd(20)} ${percent(tenant.availability).padStart(10)}  ${tenant.checks} checks, SLO missed ${tenant.sloMissed}, ${tenant.incidents} outages`,
    );
  lines.push('', 'Checks:');
  lines.push(
    `  ${'monitor'.padEnd(28)} ${'check'.padEnd(9)} ${'availability'.padStart(12)} ${'target'.padStart(7)} ${'SLO'.padEnd(7)} ${'budget left'.padStart(14)} ${'down'.padStart(12)} ${'unknown'.padStart(12)}  p50/p95 s`,
  );
  for (const check of report.checks) {
    lines.push(
      `  ${check.monitor.padEnd(28)} ${check.check.padEnd(9)} ${percent(check.availability).padStart(12)} ${`${check.target}%`.padStart(7)} ${slo(check).padEnd(7)} ${duration(check.errorBudget.leftSeconds).padStart(14)} ${duration(check.failSeconds).padStart(12)} ${duration(check.unknownSeconds).padStart(12)}  ${check.durationSeconds.p50 ?? '–'}/${check.durationSeconds.p95 ?? '–'}`,
    );
  }
  lines.push('', `Incidents (${report.incidents.length}):`);
  if (report.incidents.length === 0) lines.push('  none');
  for (const incident of report.incidents) {
    lines.push(
      `  ${local(report, incident.startedAt)} → ${local(report, incident.endedAt)}  ${duration(incident.durationSeconds)}  ${incident.monitor} ${incident.check}: ${incident.reason} at ${incident.stage}${incident.outage ? '' : ' (blip, counted as OK)'}`,
    );
    lines.push(`    cause: ${incident.cause ?? CAUSE_NOT_RECORDED}`);
    if (incident.serverText) lines.push(`    server said: ${incident.serverText}`);
    lines.push(`    fix: ${incident.fix}`);
  }
  if (report.lostByCause.length > 0) {
    lines.push('', 'Outage time by cause:');
    for (const entry of report.lostByCause) lines.push(`  ${entry.cause.padEnd(20)} ${duration(entry.failSeconds).padStart(12)}  ${entry.outages} outages`);
  }
  if (report.excluded.length > 0) {
    lines.push('', 'Excluded (maintenance):');
    for (const window of report.excluded) lines.push(`  ${window.name}: ${local(report, window.from)} – ${local(report, window.to)} (${window.scope})`);
  }
  if (report.agentDown.length > 0) {
    lines.push('', 'Agent not running (counted as UNKNOWN):');
    for (const gap of report.agentDown) lines.push(`  ${local(report, gap.from)} – ${local(report, gap.to)} (${duration(gap.seconds)})`);
  }
  // Monitor names, tenant keys and the server's words reach the terminal: escaped like `check` escapes them.
  return `${lines.map(escapeControls).join('\n')}\n`;
}

const cellMd = (value: string): string => value.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

function markdownReport(report: SlaReport): string {
  const [title, overall] = headline(report);
  const lines = [
    `# ${title}`,
    '',
    overall ?? '',
    '',
    `_${accountingNote(report)}_`,
    '',
    '## Tenants',
    '',
    '| tenant | availability | checks | SLO missed | outages |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const tenant of report.tenants)
    lines.push(`| ${cellMd(tenant.tenant)} | ${percent(tenant.availability)} | ${tenant.checks} | ${tenant.sloMissed} | ${tenant.incidents} |`);
  lines.push(
    '',
    '## Checks',
    '',
    '| monitor | check | availability | target | SLO | error budget left | down | unknown | MTTR | p50 / p95 duration | p50 / p95 delivery |',
    '| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const check of report.checks) {
    lines.push(
      `| ${cellMd(check.monitor)} | ${check.check} | ${percent(check.availability)} | ${check.target} % | ${slo(check)} | ${duration(check.errorBudget.leftSeconds)} | ${duration(check.failSeconds)} | ${duration(check.unknownSeconds)} | ${duration(check.mttrSeconds)} | ${check.durationSeconds.p50 ?? '–'} / ${check.durationSeconds.p95 ?? '–'} s | ${check.deliverySeconds ? `${check.deliverySeconds.p50} / ${check.deliverySeconds.p95} s` : '–'} |`,
    );
  }
  lines.push('', `## Incidents (${report.incidents.length})`, '');
  if (report.incidents.length === 0) lines.push('None.');
  else {
    lines.push('| start | end | duration | monitor | check | reason | cause | fix |', '| --- | --- | ---: | --- | --- | --- | --- | --- |');
    for (const incident of report.incidents) {
      lines.push(
        `| ${local(report, incident.startedAt)} | ${local(report, incident.endedAt)} | ${duration(incident.durationSeconds)} | ${cellMd(incident.monitor)} | ${incident.check} | ${incident.reason}${incident.outage ? '' : ' (blip)'} | ${incident.cause ?? CAUSE_NOT_RECORDED} | ${cellMd(incident.fix)} |`,
      );
    }
  }
  if (report.lostByCause.length > 0) {
    lines.push('', '## Outage time by cause', '', '| cause | down | outages |', '| --- | ---: | ---: |');
    for (const entry of report.lostByCause) lines.push(`| ${entry.cause} | ${duration(entry.failSeconds)} | ${entry.outages} |`);
  }
  if (report.excluded.length > 0) {
    lines.push('', '## Excluded (maintenance)', '');
    for (const window of report.excluded) lines.push(`- ${cellMd(window.name)}: ${local(report, window.from)} – ${local(report, window.to)} (${window.scope})`);
  }
  if (report.agentDown.length > 0) {
    lines.push('', '## Agent not running (UNKNOWN)', '');
    for (const gap of report.agentDown) lines.push(`- ${local(report, gap.from)} – ${local(report, gap.to)} (${duration(gap.seconds)})`);
  }
  return `${lines.join('\n')}\n`;
}

function csvCell(value: string | number | boolean | null): string {
  if (value === null) return '';
  const text = typeof value === 'string' ? neutraliseFormula(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Percent like target_percent beside it, to 4 decimals (a second of a 30-day month is 0.00004 %). */
function csvPercent(fraction: number | null): number | null {
  return fraction === null ? null : Math.round(fraction * 1_000_000) / 10_000;
}

/** One row per check: what a spreadsheet wants. Incidents are in the other formats. */
function csvReport(report: SlaReport): string {
  const header = [
    'period',
    'tenant',
    'monitor',
    'check',
    'availability_percent',
    'target_percent',
    'slo_met',
    'error_budget_seconds',
    'error_budget_used_seconds',
    'error_budget_left_seconds',
    'ok_seconds',
    'fail_seconds',
    'maintenance_seconds',
    'unknown_seconds',
    'agent_down_seconds',
    'sign_in_seconds',
    'coverage_percent',
    'runs',
    'failures',
    'incidents',
    'mttr_seconds',
    'duration_p50_seconds',
    'duration_p95_seconds',
    'delivery_p50_seconds',
    'delivery_p95_seconds',
  ];
  const rows = report.checks.map((check) => [
    report.period.label,
    check.tenant,
    check.monitor,
    check.check,
    csvPercent(check.availability),
    check.target,
    check.sloMet,
    check.errorBudget.totalSeconds,
    check.errorBudget.usedSeconds,
    check.errorBudget.leftSeconds,
    check.okSeconds,
    check.failSeconds,
    check.maintenanceSeconds,
    check.unknownSeconds,
    check.agentDownSeconds,
    check.signInSeconds,
    csvPercent(check.coverage),
    check.runs,
    check.failures,
    check.incidents,
    check.mttrSeconds,
    check.durationSeconds.p50,
    check.durationSeconds.p95,
    check.deliverySeconds?.p50 ?? null,
    check.deliverySeconds?.p95 ?? null,
  ]);
  return `${[header, ...rows].map((row) => row.map(csvCell).join(',')).join('\r\n')}\r\n`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

// One file with its styles inline and no scripts or external resources: it opens offline, mails as an
// attachment, and prints to PDF from the browser with tables that do not split rows across pages.
function htmlReport(report: SlaReport): string {
  const e = escapeHtml;
  const [title, overall] = headline(report);
  const checkRows = report.checks
    .map(
      (check) =>
        `<tr class="${check.sloMet === false ? 'missed' : ''}"><td>${e(check.monitor)}</td><td>${e(check.tenant)}</td><td>${check.check}</td><td class="n">${percent(check.availability)}</td><td class="n">${check.target} %</td><td>${slo(check)}</td><td class="n">${duration(check.errorBudget.leftSeconds)}</td><td class="n">${duration(check.failSeconds)}</td><td class="n">${duration(check.unknownSeconds)}</td><td class="n">${duration(check.mttrSeconds)}</td><td class="n">${check.durationSeconds.p50 ?? '–'} / ${check.durationSeconds.p95 ?? '–'} s</td></tr>`,
    )
    .join('\n');
  const tenantRows = report.tenants
    .map(
      (tenant) =>
        `<tr><td>${e(tenant.tenant)}</td><td class="n">${percent(tenant.availability)}</td><td class="n">${tenant.checks}</td><td class="n">${tenant.sloMissed}</td><td class="n">${tenant.incidents}</td></tr>`,
    )
    .join('\n');
  const incidentRows = report.incidents
    .map(
      (incident: IncidentReport) =>
        `<tr><td>${e(local(report, incident.startedAt))}</td><td>${e(local(report, incident.endedAt))}</td><td class="n">${duration(incident.durationSeconds)}</td><td>${e(incident.monitor)}</td><td>${incident.check}</td><td><code>${e(incident.reason)}</code>${incident.outage ? '' : ' (blip)'}<br><small>${e(incident.serverText ?? '')}</small></td><td><code>${e(incident.cause ?? CAUSE_NOT_RECORDED)}</code></td><td>${e(incident.fix)}</td></tr>`,
    )
    .join('\n');
  const byCause = report.lostByCause
    .map((entry) => `<tr><td><code>${e(entry.cause)}</code></td><td class="n">${duration(entry.failSeconds)}</td><td class="n">${entry.outages}</td></tr>`)
    .join('\n');
  const excluded = report.excluded
    .map((window) => `<li>${e(window.name)}: ${e(local(report, window.from))} – ${e(local(report, window.to))} (${e(window.scope)})</li>`)
    .join('');
  const down = report.agentDown.map((gap) => `<li>${e(local(report, gap.from))} – ${e(local(report, gap.to))} (${duration(gap.seconds)})</li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${e(title ?? 'mailprobe report')}</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#111}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #999}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eee}td.n{text-align:right;white-space:nowrap}tr.missed td{background:#fde2e2}code{font-size:.95em}small{color:#555}
.note{color:#444;font-style:italic}
@media print{body{margin:0;font-size:10pt}tr{page-break-inside:avoid}thead{display:table-header-group}h2{page-break-after:avoid}@page{margin:1.5cm}}
</style></head><body>
<h1>${e(title ?? '')}</h1>
<p><strong>${e(overall ?? '')}</strong></p>
<p class="note">${e(accountingNote(report))} Generated ${e(local(report, report.generatedAt))} ${e(report.period.timeZone)}.</p>
<h2>Tenants</h2>
<table><thead><tr><th>tenant</th><th>availability</th><th>checks</th><th>SLO missed</th><th>outages</th></tr></thead><tbody>
${tenantRows}
</tbody></table>
<h2>Checks</h2>
<table><thead><tr><th>monitor</th><th>tenant</th><th>check</th><th>availability</th><th>target</th><th>SLO</th><th>error budget left</th><th>down</th><th>unknown</th><th>MTTR</th><th>p50 / p95</th></tr></thead><tbody>
${checkRows}
</tbody></table>
<h2>Incidents (${report.incidents.length})</h2>
${report.incidents.length === 0 ? '<p>None.</p>' : `<table><thead><tr><th>start</th><th>end</th><th>duration</th><th>monitor</th><th>check</th><th>reason</th><th>cause</th><th>fix</th></tr></thead><tbody>\n${incidentRows}\n</tbody></table>`}
${byCause ? `<h2>Outage time by cause</h2><table><thead><tr><th>cause</th><th>down</th><th>outages</th></tr></thead><tbody>\n${byCause}\n</tbody></table>` : ''}
${excluded ? `<h2>Excluded (maintenance)</h2><ul>${excluded}</ul>` : ''}
${down ? `<h2>Agent not running (counted as UNKNOWN)</h2><ul>${down}</ul>` : ''}
</body></html>
`;
}
