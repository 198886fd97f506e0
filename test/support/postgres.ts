import { execFile } from 'node:child_process';
import { access, chown, constants, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { spawnDaemon, waitReady, withPortRetry, DaemonStartError, PortClashError, tails } from './testbed/daemon.js';
import { lookupUser } from './testbed/packages.js';
import { pickPorts } from './testbed/ports.js';

// A private PostgreSQL from Debian's packages on loopback, as the test bed starts Dovecot: its own data
// folder under a temp folder, a free port, its unix socket in that folder, stopped on close and on exit.

const run = promisify(execFile);
const BIN = '/usr/lib/postgresql/15/bin';
const START_TIMEOUT_MS = 30_000;

export interface PrivatePostgres {
  port: number;
  /** The postmaster's pid (the bench sums its and its children's CPU). */
  pid: number;
  /** Connection string of a fresh, empty database. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (a "database down" for the tests); start() brings the same data back. */
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  close(): Promise<void>;
}

async function binary(name: string): Promise<string> {
  const file = path.join(BIN, name);
  try {
    await access(file, constants.X_OK);
    return file;
  } catch {
    throw new Error(`PostgreSQL is not installed (${file} missing); run bash .ci/install-packages.sh as root`);
  }
}

/** PostgreSQL refuses to run as root; as root the server runs as the packages' postgres user. */
async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const user = await lookupUser('postgres');
  if (!user) throw new Error('PostgreSQL test server: no "postgres" user (installed by the postgresql package)');
  return user;
}

function asUser(user: { uid: number; gid: number } | undefined, command: string, args: string[]): [string, string[]] {
  if (!user) return [command, args];
  // setpriv execs the server in place, so the pid we hold is the postmaster's and signals reach it.
  return ['setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', command, ...args]];
}

export interface PostgresOptions {
  /** Server settings (-c name=value) beside the test defaults; `durable` keeps fsync and full-page writes on. */
  settings?: Readonly<Record<string, string>>;
  durable?: boolean;
}

export async function startPostgres(options: PostgresOptions = {}): Promise<PrivatePostgres> {
  const [initdb, postgres] = await Promise.all([binary('initdb'), binary('postgres')]);
  const user = await serverUser();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mailprobe-pg-'));
  const dataDir = path.join(dir, 'data');
  const socketDir = path.join(dir, 'run');
  await mkdir(socketDir);
  if (user) {
    await chown(dir, user.uid, user.gid);
    await chown(socketDir, user.uid, user.gid);
  }
  const [initCommand, initArgs] = asUser(user, initdb, ['-D', dataDir, '-U', 'mailprobe', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
  try {
    await run(initCommand, initArgs, { timeout: 60_000, cwd: dir });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${error instanceof Error ? error.message : String(error)}`);
  }

  let port = 0;
  let daemon: ReturnType<typeof spawnDaemon> | undefined;
  const logFile = path.join(dir, 'postgres.log');
  const start = async (fixedPort?: number): Promise<void> => {
    const chosen = fixedPort ?? (await pickPorts(1))[0] ?? 0;
    // Tests need no durability; the fleet bench measures WAL and write latency as a production server has them.
    const settings = { listen_addresses: '127.0.0.1', ...(options.durable ? {} : { fsync: 'off', full_page_writes: 'off' }), ...options.settings };
    const args = ['-D', dataDir, '-p', String(chosen), '-k', socketDir, ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`])];
    const [command, commandArgs] = asUser(user, postgres, args);
    const started = spawnDaemon('postgres', command, commandArgs, logFile);
    try {
      await waitReady(started, () => accepts(chosen), { timeoutMs: START_TIMEOUT_MS, logFiles: [logFile] });
    } catch (error) {
      await started.stop().catch(() => undefined);
      if (error instanceof DaemonStartError && /could not bind|already in use/i.test(await tails([logFile]))) throw new PortClashError(error);
      throw error;
    }
    daemon = started;
    port = chosen;
  };
  await withPortRetry(5, () => start());

  const url = (database: string): string => `postgres://mailprobe@127.0.0.1:${port}/${database}`;
  return {
    get port() {
      return port;
    },
    get pid() {
      return daemon?.pid ?? 0;
    },
    async createDatabase(name: string): Promise<string> {
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    async stopServer(): Promise<void> {
      await daemon?.stop();
      daemon = undefined;
    },
    async startServer(): Promise<void> {
      await start(port);
    },
    async close(): Promise<void> {
      await daemon?.stop();
      daemon = undefined;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function accepts(port: number): Promise<boolean> {
  const client = new pg.Client({ connectionString: `postgres://mailprobe@127.0.0.1:${port}/postgres`, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
