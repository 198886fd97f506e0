import { join } from 'node:path';
import { HISTORY_DEFAULTS, SLA_DEFAULTS } from '../config/history.js';
import type { LoadedConfig } from '../config/types.js';
import { readSecret, resolveFrom } from '../config/secrets.js';
import type { AccountingPolicy, CheckIdentityRef } from './accounting.js';
import { openPostgresStore } from './backends/postgres.js';
import { openSqliteStore } from './backends/sqlite.js';
import type { MaintenanceWindow } from './maintenance.js';
import type { RetentionSettings } from './recorder.js';
import type { HistoryStore } from './types.js';

/** The history section resolved: where the store is and how long it keeps what. */
export interface HistorySettings {
  enabled: boolean;
  backend: 'sqlite' | 'postgres';
  /** Absolute path (sqlite). */
  sqliteFile: string;
  flushMs: number;
  retention: RetentionSettings;
}

export function historySettings(config: Pick<LoadedConfig, 'history' | 'agent'>): HistorySettings {
  const history = config.history ?? {};
  return {
    enabled: history.enabled ?? true,
    backend: history.backend ?? HISTORY_DEFAULTS.backend,
    sqliteFile: resolveFrom(config.agent.stateDir, history.sqliteFile ?? HISTORY_DEFAULTS.sqliteFile),
    flushMs: (history.flushSeconds ?? HISTORY_DEFAULTS.flushSeconds) * 1000,
    retention: {
      resultsDays: history.retention?.resultsDays ?? HISTORY_DEFAULTS.resultsDays,
      hourlyDays: history.retention?.hourlyDays ?? HISTORY_DEFAULTS.hourlyDays,
      dailyDays: history.retention?.dailyDays ?? HISTORY_DEFAULTS.dailyDays,
    },
  };
}

/** Where the history is, for messages: the file, or the database host (never the password). */
export function describeStore(config: Pick<LoadedConfig, 'history' | 'agent'>): string {
  const settings = historySettings(config);
  return settings.backend === 'sqlite' ? settings.sqliteFile : 'postgres (history.postgresUrl)';
}

export async function openHistoryStore(
  config: Pick<LoadedConfig, 'history' | 'agent' | 'file'>,
  options: { env: NodeJS.ProcessEnv; now: number },
): Promise<HistoryStore> {
  const target = historyTarget(config, options.env);
  if (target.backend === 'sqlite') return openSqliteStore(target.file, { now: options.now });
  return openPostgresStore({ connectionString: target.connectionString, now: options.now });
}

/** The store a report worker opens on its own connection: the SQLite file, or the PostgreSQL database. */
export type ReportStore = { backend: 'sqlite'; file: string } | { backend: 'postgres'; connectionString: string };

/** Where the configured history store is: the SQLite file, or the PostgreSQL database (its URL read now). */
export function historyTarget(config: Pick<LoadedConfig, 'history' | 'agent' | 'file'>, env: NodeJS.ProcessEnv): ReportStore {
  const settings = historySettings(config);
  if (settings.backend === 'sqlite') return { backend: 'sqlite', file: settings.sqliteFile };
  const source = config.history?.postgresUrl;
  if (source === undefined) throw new Error('history.backend is "postgres" but history.postgresUrl is not set');
  const url = readSecret(source, join(config.file, '..'), env);
  if (!url.ok) throw new Error(`history.postgresUrl: ${url.message}`);
  return { backend: 'postgres', connectionString: url.secret.reveal() };
}

/** The sla section as the accounting rules use it. */
export function accountingPolicy(config: Pick<LoadedConfig, 'sla'>): AccountingPolicy {
  const sla = config.sla ?? {};
  const timeZone = sla.timeZone ?? SLA_DEFAULTS.timeZone;
  const maintenance: MaintenanceWindow[] = (sla.maintenance ?? []).map((window) => ({
    name: window.name,
    timeZone: window.timeZone ?? timeZone,
    ...(window.monitors ? { monitors: window.monitors } : {}),
    ...(window.tenants ? { tenants: window.tenants } : {}),
    ...(window.checks ? { checks: window.checks } : {}),
    ...(window.start !== undefined ? { start: window.start } : {}),
    ...(window.end !== undefined ? { end: window.end } : {}),
    ...(window.recurring ? { recurring: window.recurring } : {}),
  }));
  const targets = sla.targets ?? [];
  const fallback = sla.target ?? SLA_DEFAULTS.target;
  return {
    timeZone,
    unknownCountsAsDown: sla.unknownCountsAsDown ?? SLA_DEFAULTS.unknownCountsAsDown,
    minimumOutage: {
      failures: sla.minimumOutage?.failures ?? SLA_DEFAULTS.minimumOutageFailures,
      seconds: sla.minimumOutage?.seconds ?? SLA_DEFAULTS.minimumOutageSeconds,
    },
    maintenance,
    target: (check: CheckIdentityRef): number => {
      let best: { score: number; target: number } | undefined;
      for (const entry of targets) {
        if (entry.monitors && !entry.monitors.includes(check.monitor)) continue;
        if (entry.tenants && !entry.tenants.includes(check.tenant)) continue;
        if (entry.checks && !entry.checks.includes(check.check)) continue;
        // Monitor beats tenant beats check-only; naming the check as well breaks a tie.
        const score = (entry.monitors ? 4 : 0) + (entry.tenants ? 2 : 0) + (entry.checks ? 1 : 0);
        if (!best || score > best.score) best = { score, target: entry.target };
      }
      return best?.target ?? fallback;
    },
  };
}

/** The checks the configuration runs now, with their tenants. */
export function configuredChecks(config: Pick<LoadedConfig, 'monitors'>): CheckIdentityRef[] {
  return config.monitors
    .filter((monitor) => monitor.enabled)
    .flatMap((monitor) => monitor.checks.map((check) => ({ monitor: monitor.name, tenant: monitor.tenant.key, check })));
}
