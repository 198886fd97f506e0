import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isPortFree } from './ports.js';

/** A server process the test bed started, owned by its pid and process group. */
export interface Daemon {
  readonly name: string;
  readonly pid: number;
  /** null while running; the exit code (or signal name) once it has exited. */
  exitStatus(): string | null;
  /** SIGTERM, wait, then SIGKILL whatever is left of the process group. Resolves when nothing is left. */
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 1500;
const KILL_WAIT_MS = 5000;
const POLL_MS = 50;

// Groups still running; killed if the test process exits without close() (a crash, a forgotten after()),
// since detached daemons would otherwise outlive it.
const liveGroups = new Set<number>();
process.on('exit', () => {
  for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
});

/**
 * Starts `command` in its own process group with stdout/stderr appended to `logFile`. Both Dovecot's and
 * Postfix's master processes lead their group, so one group signal reaches every child they forked.
 */
export function spawnDaemon(name: string, command: string, args: string[], logFile: string): Daemon {
  const log = openSync(logFile, 'a');
  const child = spawn(command, args, { stdio: ['ignore', log, log], detached: true });
  closeSync(log);
  let status: string | null = null;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      status = signal ?? String(code);
      resolve();
    });
    child.once('error', (error) => {
      status = `spawn failed: ${error.message}`;
      resolve();
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: could not start ${command}`);
  liveGroups.add(pid);

  return {
    name,
    pid,
    exitStatus: () => status,
    async stop(): Promise<void> {
      // The master alone: both pass SIGTERM on to their children and shut down in order. Dovecot's master
      // then waits up to 5 s for idle helpers (log, stats, anvil) before it forces them; the test bed is done
      // with its mail by now, so it cuts that short.
      if (status === null) signalProcess(pid, 'SIGTERM');
      if (!(await groupGone(pid, STOP_GRACE_MS))) signalGroup(pid, 'SIGKILL');
      await exited;
      if (!(await groupGone(pid, KILL_WAIT_MS))) throw new Error(`${name}: process group ${pid} survived SIGKILL`);
      liveGroups.delete(pid);
    },
  };
}

function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  return signalProcess(-pgid, signal);
}

function signalProcess(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** One letter, as in ps: R, S, D, Z … */
  state: string;
  command: string;
}

/** Every process on the machine, from /proc. */
export async function listProcesses(): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses, so split after the last ')'.
      const close = stat.lastIndexOf(')');
      const [state = '', ppid, pgid] = stat.slice(close + 2).split(' ');
      found.push({ pid: Number(entry), ppid: Number(ppid), pgid: Number(pgid), state, command: stat.slice(stat.indexOf('(') + 1, close) });
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

// Zombies do not count: orphans are reaped by PID 1, which on some machines takes seconds, yet they still
// answer kill(-pgid, 0).
async function groupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = (await listProcesses()).some((proc) => proc.pgid === pgid && proc.state !== 'Z');
    if (!alive) return true;
    if (Date.now() > deadline) return false;
    await sleep(POLL_MS);
  }
}

/**
 * Polls `ready` until it holds. Fails early when the daemon exits, and on timeout; either error carries the
 * tail of the daemon's log so a broken configuration explains itself.
 */
export async function waitReady(daemon: Daemon, ready: () => Promise<boolean>, options: { timeoutMs: number; logFiles: string[] }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const status = daemon.exitStatus();
    if (status !== null) throw new DaemonStartError(daemon.name, `exited (${status}) during start-up`, await tails(options.logFiles));
    if (await ready()) return;
    if (Date.now() > deadline) {
      throw new DaemonStartError(daemon.name, `not ready after ${options.timeoutMs} ms`, await tails(options.logFiles));
    }
    await sleep(POLL_MS);
  }
}

export class DaemonStartError extends Error {
  readonly logTail: string;

  constructor(name: string, what: string, logTail: string) {
    super(`${name} ${what}\n${logTail}`);
    this.name = 'DaemonStartError';
    this.logTail = logTail;
  }
}

/** A start-up that failed because another process took one of the picked ports first. */
export class PortClashError extends Error {
  constructor(cause: DaemonStartError) {
    super(cause.message, { cause });
    this.name = 'PortClashError';
  }
}

/**
 * Turns a start-up failure caused by a taken port into a PortClashError. Dovecot logs "Address already in
 * use"; Postfix's master dies before its log service runs, so the ports themselves are checked too.
 */
export async function classifyStartFailure(error: unknown, ports: number[]): Promise<unknown> {
  if (!(error instanceof DaemonStartError)) return error;
  if (/address already in use/i.test(error.logTail)) return new PortClashError(error);
  for (const port of ports) {
    if (!(await isPortFree(port))) return new PortClashError(error);
  }
  return error;
}

export async function tails(files: string[], lines = 25): Promise<string> {
  const parts = await Promise.all(files.map(async (file) => `--- ${file} (last ${lines} lines)\n${await tail(file, lines)}`));
  return parts.join('\n');
}

export async function tail(file: string, lines = 25): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Retries a start-up that lost a race for its ports, with fresh ports each time. */
export async function withPortRetry<T>(attempts: number, start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await start();
    } catch (error) {
      if (!(error instanceof PortClashError) || attempt >= attempts) throw error;
    }
  }
}
