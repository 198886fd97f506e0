import type { CheckKind } from '../core/check.js';
import { createPartitions, FILLFACTOR, monthsOf, PARTITIONED, partitionsOf, type PartitionedTable } from './partitions.js';
import { ResultDictionary } from './result-rows.js';
import type { Migration, SqlDriver, SqlExecutor } from './sql.js';
import { DELIVERY_BOUNDS, DURATION_BOUNDS, type ResultRow } from './types.js';

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
  {
    version: 5,
    description: 'slim raw results (dictionaries of checks and details); on PostgreSQL, results and rollups partitioned by month, BRIN time indexes',
    statements: (dialect) => (dialect === 'postgres' ? postgresV5() : sqliteV5()),
    after: async (tx, dialect, now) => {
      if (dialect === 'postgres') {
        for (const table of ROLLUP_TABLES_V5) {
          await createPartitions(tx, table, await oldMonths(tx, `${table}_v4`, 'bucket', now));
          const columns = ['monitor', 'check_kind', 'bucket', 'tenant', ...ROLLUP_SUMS].join(', ');
          await tx.run(`INSERT INTO ${table} (${columns}) SELECT ${columns} FROM ${table}_v4`);
          await tx.run(`DROP TABLE ${table}_v4`);
        }
        await createPartitions(tx, 'results', await oldMonths(tx, 'results_v4', 'started_at', now));
      }
      await copyResultsV4(tx, dialect);
      await tx.run('DROP TABLE results_v4');
    },
  },
  {
    version: 6,
    description: 'PostgreSQL: rollup sums of zero kept as NULL; rollup partitions and check states leave room for in-place updates',
    // SQLite stores a zero in no payload bytes and has no fill factor: nothing to change there.
    statements: (dialect) =>
      dialect === 'postgres'
        ? [
            ...ROLLUP_TABLES_V5.map(
              (table) =>
                `ALTER TABLE ${table} ${ROLLUP_SUMS.map((column) => `ALTER COLUMN ${column} DROP NOT NULL, ALTER COLUMN ${column} DROP DEFAULT`).join(', ')}`,
            ),
            `ALTER TABLE check_state SET (fillfactor = ${CHECK_STATE_FILLFACTOR})`,
          ]
        : [],
    after: async (tx, dialect) => {
      if (dialect !== 'postgres') return;
      for (const table of ROLLUP_TABLES_V5) {
        for (const partition of await partitionsOf(tx, table)) await tx.run(`ALTER TABLE ${partition.name} SET (fillfactor = ${FILLFACTOR[table]})`);
      }
    },
  },
  {
    version: 7,
    description: "raw results' step times as bytes (step_bin), a row 8 bytes narrower on PostgreSQL",
    // A new column only: rows of schema 5 and 6 keep their step times as text, and both are read.
    statements: (dialect) => [`ALTER TABLE results ADD COLUMN step_bin ${dialect === 'postgres' ? 'BYTEA' : 'BLOB'}`],
  },
];

/** A check's state is rewritten with every result: room on its page keeps the update in place (HOT). */
const CHECK_STATE_FILLFACTOR = 70;

const ROLLUP_TABLES_V5 = ['rollup_hourly', 'rollup_daily', 'rollup_monthly'] as const satisfies readonly PartitionedTable[];

/** The dictionaries and the narrow results table (both dialects; PostgreSQL's partitioned). */
function slimResults(dialect: SqlDriver['dialect']): string[] {
  const postgres = dialect === 'postgres';
  const id = postgres ? 'INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY' : 'INTEGER PRIMARY KEY';
  const { big } = types(dialect);
  return [
    `CREATE TABLE history_checks (id ${id}, monitor TEXT NOT NULL, check_kind TEXT NOT NULL, tenant TEXT NOT NULL, mailbox TEXT NOT NULL,
      last_used_at ${big} NOT NULL, UNIQUE (monitor, check_kind, tenant, mailbox))`,
    `CREATE TABLE result_details (id ${id}, key TEXT NOT NULL UNIQUE, detail TEXT NOT NULL, last_used_at ${big} NOT NULL)`,
    // Columns widest first, so PostgreSQL pads nothing: 8 + 4 + 4 + 4 (+ 4) bytes and the step times.
    `CREATE TABLE results (started_at ${big} NOT NULL, check_id INTEGER NOT NULL, detail INTEGER NOT NULL, duration_ms REAL NOT NULL,
      delivery_ms REAL, step_ms TEXT NOT NULL, PRIMARY KEY (check_id, started_at))${postgres ? ' PARTITION BY RANGE (started_at)' : ' WITHOUT ROWID'}`,
    // Rows arrive in time order, so a BRIN index (a few pages a month) finds a time range as well as a B-tree.
    postgres ? 'CREATE INDEX results_started_at ON results USING brin (started_at)' : 'CREATE INDEX results_started_at ON results (started_at)',
  ];
}

function sqliteV5(): string[] {
  return ['DROP INDEX results_started_at', 'ALTER TABLE results RENAME TO results_v4', ...slimResults('sqlite')];
}

function postgresV5(): string[] {
  const counts = ['runs', 'failures', 'deliveries', ...DURATION_COLUMNS, ...DELIVERY_COLUMNS];
  const rollups = ROLLUP_TABLES_V5.flatMap((table) => [
    `ALTER TABLE ${table} RENAME TO ${table}_v4`,
    `ALTER INDEX ${table}_pkey RENAME TO ${table}_v4_pkey`,
    `ALTER INDEX ${table}_bucket RENAME TO ${table}_v4_bucket`,
    // Counts fit 32 bits (a month of runs every minute is 44,640); time stays 64-bit (a month is 2.7e9 ms).
    `CREATE TABLE ${table} (monitor TEXT NOT NULL, check_kind TEXT NOT NULL, bucket BIGINT NOT NULL, tenant TEXT NOT NULL,
      ok_ms BIGINT NOT NULL, fail_ms BIGINT NOT NULL, duration_ms_sum DOUBLE PRECISION NOT NULL,
      ${counts.map((column) => `${column} INTEGER NOT NULL DEFAULT 0`).join(', ')},
      PRIMARY KEY (monitor, check_kind, bucket)) PARTITION BY RANGE (bucket)`,
    `CREATE INDEX ${table}_bucket ON ${table} USING brin (bucket)`,
  ]);
  return [
    'ALTER TABLE results RENAME TO results_v4',
    'ALTER INDEX results_pkey RENAME TO results_v4_pkey',
    'ALTER INDEX results_started_at RENAME TO results_v4_started_at',
    ...slimResults('postgres'),
    ...rollups,
  ];
}

/** The months an old table has rows in, and the current one. */
async function oldMonths(tx: SqlExecutor, table: string, column: string, now: number): Promise<number[]> {
  const rows = await tx.query<{ t: number }>(`SELECT DISTINCT (${column} / 86400000) * 86400000 AS t FROM ${table}`);
  return monthsOf([now, ...rows.map((row) => Number(row.t))]);
}

const COPY_ROWS = 5000;

/** Schema 4's results into schema 5's, through the same code the recorder writes with. */
async function copyResultsV4(tx: SqlExecutor, dialect: SqlDriver['dialect']): Promise<void> {
  const dictionary = new ResultDictionary();
  let after: unknown[] | undefined;
  for (;;) {
    const rows: Array<Record<string, unknown>> = await tx.query<Record<string, unknown>>(
      `SELECT * FROM results_v4 ${after ? 'WHERE (monitor, check_kind, started_at) > (?, ?, ?) ' : ''}ORDER BY monitor, check_kind, started_at LIMIT ${COPY_ROWS}`,
      after ?? [],
    );
    if (rows.length === 0) return;
    const commit = await dictionary.write(tx, dialect, rows.map(resultOfV4));
    commit();
    const last = rows[rows.length - 1] ?? {};
    after = [last.monitor, last.check_kind, last.started_at];
  }
}

function resultOfV4(row: Record<string, unknown>): ResultRow {
  const text = (value: unknown): string | undefined => (value === null || value === undefined ? undefined : String(value));
  const result: ResultRow = {
    monitor: String(row.monitor),
    tenant: String(row.tenant),
    mailbox: String(row.mailbox),
    check: row.check_kind as CheckKind,
    startedAt: Number(row.started_at),
    durationMs: Number(row.duration_ms),
    ok: Number(row.ok) === 1,
    steps: JSON.parse(String(row.steps)) as ResultRow['steps'],
    intervalS: Number(row.interval_s),
  };
  const stage = text(row.stage);
  const reason = text(row.reason);
  const category = text(row.category);
  const serverText = text(row.server_text);
  if (stage !== undefined) result.stage = stage;
  if (reason !== undefined) result.reason = reason;
  if (category !== undefined) result.category = category;
  if (serverText !== undefined) result.serverText = serverText;
  if (row.delivery_ms !== null && row.delivery_ms !== undefined) result.deliveryMs = Number(row.delivery_ms);
  return result;
}

/** The time column of each table PostgreSQL partitions (for the store's partition upkeep). */
export const PARTITION_COLUMNS = PARTITIONED;

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
      await migration.after?.(tx, driver.dialect, now);
      await tx.run('INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)', [migration.version, migration.description, now]);
      return migration.version;
    });
  }
  return current;
}

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
