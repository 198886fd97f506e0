import { existsSync } from 'node:fs';
import { systemClock } from '../core/clock.js';
import { buildReport, reportChecks, resolvePeriod } from '../history/report.js';
import { REPORT_FORMATS, renderReport, type ReportFormat } from '../history/report-format.js';
import { accountingPolicy, historySettings, openHistoryStore } from '../history/settings.js';
import { EXIT, print, UsageError, defineCommand, type CommandInput, type Options } from './io.js';

export const REPORT_HELP = `Usage: mailprobe report [--period 2026-11|last|this | --from WHEN [--to WHEN]] [--monitor NAME]
                        [--tenant KEY] [--format text|md|csv|json|html] [--config FILE]

The SLA report from the history store: availability per monitor x check and per tenant, SLO met or missed,
error budget used and left, incidents with their reason and one-line fix, MTTR, p50/p95 check duration and
delivery latency, data coverage, maintenance windows and time the agent was not running. Months and local
times are in sla.timeZone; WHEN is a date (2026-11-03), a local time (2026-11-03T22:30) or an instant
(2026-11-03T21:30:00Z). Default: the previous calendar month. --format html writes one self-contained page
that prints to PDF from the browser. The agent may keep running: the report only reads.`;

const REPORT_OPTIONS = {
  period: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  monitor: { type: 'string' },
  tenant: { type: 'string' },
  format: { type: 'string' },
  config: { type: 'string' },
} satisfies Options;

export const reportCommand = defineCommand({ name: 'report', help: REPORT_HELP, options: REPORT_OPTIONS, run: report });

async function report({ values, io, readConfig }: CommandInput<typeof REPORT_OPTIONS>): Promise<number> {
  const format = (values.format ?? 'text') as ReportFormat;
  if (!REPORT_FORMATS.includes(format)) throw new UsageError(`report: --format takes ${REPORT_FORMATS.join(', ')} (got "${values.format}")`);
  const config = readConfig();
  const policy = accountingPolicy(config);
  const now = systemClock.now();
  const settings = historySettings(config);
  let period: ReturnType<typeof resolvePeriod>;
  try {
    period = resolvePeriod(
      {
        ...(values.period !== undefined ? { period: values.period } : {}),
        ...(values.from !== undefined ? { from: values.from } : {}),
        ...(values.to !== undefined ? { to: values.to } : {}),
      },
      policy.timeZone,
      now,
      settings.retention.dailyDays,
    );
  } catch (error) {
    throw new UsageError(`report: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!settings.enabled) throw new UsageError('report: history is disabled in this configuration ("history": {"enabled": false})');
  if (settings.backend === 'sqlite' && !existsSync(settings.sqliteFile)) {
    throw new UsageError(`report: no history at ${settings.sqliteFile} yet; the agent (mailprobe run) writes it`);
  }
  const checks = reportChecks(config);
  if (values.monitor !== undefined && !checks.some((check) => check.monitor === values.monitor)) {
    print(io.stderr, `mailprobe: note: monitor "${values.monitor}" is not in ${config.file}; reporting what the history holds for it`);
  }
  if (values.tenant !== undefined && !config.tenants.has(values.tenant)) {
    print(
      io.stderr,
      `mailprobe: note: tenant "${values.tenant}" is not in ${config.file} (tenants: ${[...config.tenants.keys()].join(', ')}); reporting what the history holds for it`,
    );
  }
  const store = await openHistoryStore(config, { env: io.env, now }).catch((error: unknown) => {
    const where = settings.backend === 'sqlite' ? settings.sqliteFile : 'the PostgreSQL history (history.postgresUrl)';
    const why = error instanceof Error ? error.message : String(error);
    const fix = settings.backend === 'sqlite' ? '; restore it from a backup, or move it aside and the agent starts a new history' : '';
    throw new UsageError(`report: cannot read the history store ${where}: ${why}${fix}`);
  });
  try {
    const report = await buildReport(
      { store, policy, configured: checks },
      {
        ...period,
        now,
        ...(values.monitor !== undefined ? { monitor: values.monitor } : {}),
        ...(values.tenant !== undefined ? { tenant: values.tenant } : {}),
      },
    );
    if (report.checks.length === 0)
      print(
        io.stderr,
        `mailprobe: note: the history holds no checks${values.monitor !== undefined ? ` of monitor "${values.monitor}"` : ''}${values.tenant !== undefined ? ` of tenant "${values.tenant}"` : ''} in ${period.label}`,
      );
    io.stdout.write(renderReport(report, format));
  } finally {
    await store.close();
  }
  return EXIT.ok;
}
