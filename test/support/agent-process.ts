import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface AgentProcess {
  child: ChildProcess;
  url: string;
  /** Everything the agent wrote so far (stdout + stderr). */
  output(): string;
  get(path: string): Promise<{ status: number; body: string }>;
  metrics(): Promise<string>;
  /** Polls until check() returns a value (not undefined) or the timeout passes. */
  waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs?: number): Promise<T>;
  signal(signal: NodeJS.Signals): void;
  exited(): Promise<number | null>;
  stop(): Promise<number | null>;
}

/** Runs the built CLI (`bin/mailprobe.js run`) as a real process, as an operator would. */
export async function startAgentProcess(args: string[], port: number, env: NodeJS.ProcessEnv = {}): Promise<AgentProcess> {
  const child = spawn(process.execPath, [join(process.cwd(), 'bin/mailprobe.js'), 'run', '--listen', `127.0.0.1:${port}`, '--log-format', 'json', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, ...env },
  });
  const chunks: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const get = async (path: string): Promise<{ status: number; body: string }> => {
    const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5000) });
    return { status: response.status, body: await response.text() };
  };
  const waitFor = async <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      try {
        const value = await check();
        if (value !== undefined) return value;
      } catch (error) {
        lastError = error;
      }
      if (child.exitCode !== null) break;
      await sleep(200);
    }
    throw new Error(`timed out waiting for ${what}${lastError ? ` (${String(lastError)})` : ''}\n--- agent output ---\n${chunks.join('').slice(-4000)}`);
  };
  const handle: AgentProcess = {
    child,
    url,
    output: () => chunks.join(''),
    get,
    metrics: async () => (await get('/metrics')).body,
    waitFor,
    signal: (signal) => child.kill(signal),
    exited: () => exit,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await Promise.race([exit, sleep(15_000, undefined, { ref: false }).then(() => 'timeout' as const)]);
      if (code === 'timeout') {
        child.kill('SIGKILL');
        return exit;
      }
      return code;
    },
  };
  await waitFor('the agent to listen', async () => ((await get('/healthz')).status === 200 ? true : undefined));
  return handle;
}

/** The value of one sample in a Prometheus text exposition, matched on the given labels. */
export function sampleValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}
