/** What the shared SQL store needs from a database client; one small driver per backend implements it. */
export interface SqlExecutor {
  /** Placeholders are `?`; the PostgreSQL driver numbers them. */
  query<T extends object>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

export interface SqlDriver extends SqlExecutor {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Each row mapped as it arrives, the raw rows not kept: 200,000 rows and their texts kept until the last one
   * came were all copied into the old generation on the way (npm run bench:fleet's report).
   */
  mapRows<T>(sql: string, params: readonly unknown[], map: (row: Record<string, unknown>) => T): Promise<T[]>;
  /** Runs fn in one transaction; concurrent callers wait their turn. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Schema versions, oldest first. A released version is never edited; changes come as a new version. */
export interface Migration {
  version: number;
  description: string;
  statements: (dialect: SqlDriver['dialect']) => string[];
  /** Work after the statements, in the same transaction, that plain SQL cannot say (rows copied through code). */
  after?: (tx: SqlExecutor, dialect: SqlDriver['dialect'], now: number) => Promise<void>;
}
