import type { Migration, SqlDriver } from './sql.js';
import { DELIVERY_BOUNDS, DURATION_BOUNDS } from './types.js';

export const DURATION_COLUMNS = Array.from({ length: DURATION_BOUNDS.length + 1 }, (_, i) => `d${i}`);
export const DELIVERY_COLUMNS = Array.from({ length: DELIVERY_BOUNDS.length + 1 }, (_, i) => `l${i}`);
/** The additive columns of a rollup row, in the order the store writes them. */
export const ROLLUP_SUMS = ['ok_ms', 'fail_ms', 'runs', 'failures', 'duration_ms_sum', 'deliveries', ...DURATION_COLUMNS, ...DELIVERY_COLUMNS];

function types(dialect: SqlDriver['dialect']): { big: string; real: string } {
  return dialect === 'postgres' ? { big: 'BIGINT', real: 'DOUBLE PRECISION' } : { big: 'INTEGER', real: 'REAL' };
}

function rollupTable(name: string, dialect: SqlDriver['dialect']): string[] {
  const { big, real } = types(dialect);
  const buckets = [...DURATION_COLUMNS, ...DELIVERY_COLUMNS].map((column) => `${column} ${big} NOT NULL DEFAULT 0`).join(', ');
  return [
    `CREATE TABLE ${name} (monitor TEXT NOT NULL, check_kind TEXT NOT NULL, bucket ${big} NOT NULL, tenant TEXT NOT NULL,
      ok_ms ${big} NOT NULL, fail_ms ${big} NOT NULL, runs ${big} NOT NULL, failures ${big} NOT NULL,
      duration_ms_sum ${real} NOT NULL, deliveries ${big} NOT NULL, ${buckets},
      PRIMARY KEY (monitor, check_kind, bucket))`,
    `CREATE INDEX ${name}_bucket ON ${name} (bucket)`,
  ];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'results, hourly and daily rollups, incidents, check state, agent running periods',
    statements: (dialect) => {
      const { big, real } = types(dialect);
      return [
        `CREATE TABLE results (monitor TEXT NOT NULL, check_kind TEXT NOT NULL, started_at ${big} NOT NULL,
          tenant TEXT NOT NULL, mailbox TEXT NOT NULL, duration_ms ${real} NOT NULL, ok SMALLINT NOT NULL,
          stage TEXT, reason TEXT, category TEXT, server_text TEXT, steps TEXT NOT NULL, delivery_ms ${real},
          interval_s ${big} NOT NULL, PRIMARY KEY (monitor, check_kind, started_at))`,
        'CREATE INDEX results_started_at ON results (started_at)',
        ...rollupTable('rollup_hourly', dialect),
        ...rollupTable('rollup_daily', dialect),
        `CREATE TABLE incidents (monitor TEXT NOT NULL, check_kind TEXT NOT NULL, started_at ${big} NOT NULL,
          tenant TEXT NOT NULL, ended_at ${big}, reason TEXT NOT NULL, stage TEXT NOT NULL, server_text TEXT,
          failures ${big} NOT NULL, fail_ms ${big} NOT NULL, last_failure_at ${big} NOT NULL,
          PRIMARY KEY (monitor, check_kind, started_at))`,
        'CREATE INDEX incidents_started_at ON incidents (started_at)',
        `CREATE TABLE check_state (monitor TEXT NOT NULL, check_kind TEXT NOT NULL, tenant TEXT NOT NULL,
          mailbox TEXT NOT NULL, first_seen_at ${big} NOT NULL, last_at ${big} NOT NULL, last_ok SMALLINT NOT NULL,
          interval_s ${big} NOT NULL, consecutive_failures ${big} NOT NULL, last_success_at ${big},
          open_incident_at ${big}, status TEXT NOT NULL, PRIMARY KEY (monitor, check_kind))`,
        `CREATE TABLE agent_runs (id TEXT PRIMARY KEY, started_at ${big} NOT NULL, last_seen_at ${big} NOT NULL,
          stopped_at ${big})`,
      ];
    },
  },
  {
    version: 2,
    description: 'monthly rollups (UTC calendar months), filled from the daily ones',
    statements: (dialect) => {
      // Daily buckets are UTC midnights, so each falls in exactly one UTC month.
      const month =
        dialect === 'postgres'
          ? "(EXTRACT(EPOCH FROM date_trunc('month', to_timestamp(bucket / 1000.0) AT TIME ZONE 'UTC')) * 1000)::BIGINT"
          : "CAST(strftime('%s', bucket / 1000, 'unixepoch', 'start of month') AS INTEGER) * 1000";
      return [
        ...rollupTable('rollup_monthly', dialect),
        `INSERT INTO rollup_monthly (monitor, check_kind, bucket, tenant, ${ROLLUP_SUMS.join(', ')})
          SELECT monitor, check_kind, ${month} AS month, MAX(tenant), ${ROLLUP_SUMS.map((column) => `SUM(${column})`).join(', ')}
          FROM rollup_daily GROUP BY monitor, check_kind, ${month}`,
      ];
    },
  },
  {
    version: 3,
    description: 'the diagnosis of each incident at its first failure: summary, first fix, protocol, cloud',
    // Older incidents keep NULLs: what was diagnosed then was not stored, and is not re-derived now.
    statements: () => INCIDENT_DIAGNOSIS_COLUMNS.map((column) => `ALTER TABLE incidents ADD COLUMN ${column} TEXT`),
  },
  {
    version: 4,
    description: "each incident's cause (the monitor's, attributed over its checks)",
    // Older incidents keep NULL: their cause was not attributed then and is not guessed now.
    statements: () => ['ALTER TABLE incidents ADD COLUMN cause TEXT'],
  },
];

/** The incident columns migration 3 added, in the store's column order. */
export const INCIDENT_DIAGNOSIS_COLUMNS = ['diagnosis_summary', 'diagnosis_fix', 'diagnosis_protocol', 'diagnosis_cloud'] as const;

/** Applies every migration not yet applied, each in its own transaction; replicas starting together take turns. */
export async function migrate(driver: SqlDriver, now: number): Promise<number> {
  const { big } = types(driver.dialect);
  await driver.run(`CREATE TABLE IF NOT EXISTS schema_migrations (version ${big} PRIMARY KEY, description TEXT NOT NULL, applied_at ${big} NOT NULL)`);
  let current = 0;
  for (const migration of MIGRATIONS) {
    current = await driver.transaction(async (tx) => {
      // Two replicas upgrading one PostgreSQL database at once: the second waits, then finds the work done.
      if (driver.dialect === 'postgres') await tx.query('SELECT pg_advisory_xact_lock(7201912)');
      const done = await tx.query<{ version: number }>('SELECT version FROM schema_migrations WHERE version = ?', [migration.version]);
      if (done.length > 0) return migration.version;
      for (const statement of migration.statements(driver.dialect)) await tx.run(statement);
      await tx.run('INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)', [migration.version, migration.description, now]);
      return migration.version;
    });
  }
  return current;
}

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
