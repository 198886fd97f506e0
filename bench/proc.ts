import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

// What the benchmark reads about the processes it starts: CPU from /proc/<pid>/stat, peak RSS from
// /proc/<pid>/status, and the timing and size of an HTTP fetch.

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU seconds the process has used so far (its own, not its children's). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after it start past its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks();
}

/** Peak resident set size (VmHWM) in bytes. */
export function peakRssBytes(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : NaN;
}

export interface Fetched {
  ms: number;
  bytes: number;
  text?: string;
}

/** GETs a URL on the loopback; bytes as sent on the wire (compressed when gzip was asked for and given). */
export function timedGet(url: string, options: { gzip: boolean; keepText?: boolean; timeoutMs?: number }): Promise<Fetched> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = get(url, { headers: options.gzip ? { 'accept-encoding': 'gzip' } : {}, timeout: options.timeoutMs ?? 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (options.keepText) chunks.push(chunk);
      });
      res.on('end', () => {
        const ms = performance.now() - started;
        if (res.statusCode !== 200) return reject(new Error(`${url} answered ${res.statusCode ?? '?'}`));
        resolve({ ms, bytes, ...(options.keepText ? { text: Buffer.concat(chunks).toString('utf8') } : {}) });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url} timed out`)));
    req.on('error', reject);
  });
}

/** Every child the benchmark started, so an interrupted run still leaves none behind. */
const children = new Set<ChildProcess>();

export function spawnTracked(command: string, args: readonly string[], options: { stdin?: boolean } = {}): ChildProcess {
  const child = spawn(command, args, { stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function killAllChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Sends SIGTERM (or closes stdin) and waits for the exit; SIGKILL after graceMs. */
export async function stopChild(child: ChildProcess, graceMs: number, how: 'sigterm' | 'stdin' = 'sigterm'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (how === 'stdin') child.stdin?.end();
  else child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), graceMs);
  });
  if ((await Promise.race([exited, late])) === 'late') {
    child.kill('SIGKILL');
    await exited;
  }
  clearTimeout(timer);
}

/** Calls onLine for each line the stream yields. */
export function eachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
