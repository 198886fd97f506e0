import { rmSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { PROBES } from '../probes/registry.js';
import { CHECK_KINDS, type CheckKind } from '../core/check.js';
import { playDemoScript, startDemoEnvironment, DEMO_CYCLE_SECONDS, DEMO_SCRIPT } from '../sandbox/demo.js';
import { Writable } from 'node:stream';
import { systemClock } from '../core/clock.js';
import type { DemoEnvironment } from '../sandbox/demo.js';
import { EXIT, print, UsageError, defineCommand, type CliIO, type CommandInput, type Options } from './io.js';
import { listenerFlags } from './listener-flags.js';
import { signIn } from './login.js';
import { untilSignal } from '../daemon/signals.js';
import { startAgent } from '../daemon/start.js';

export const DEMO_HELP = `Usage: mailprobe demo [--listen HOST:PORT] [--state-dir DIR] [--reset] [--web.config.file FILE]
                      [--schedule CRON] [--duration SECONDS]

Offline demo for a newcomer with no tenant: starts an Entra ID and Exchange Online emulator on loopback with
five tenants, runs the agent against them, and breaks and repairs one thing at a time (a secret expires,
consent is revoked, SMTP AUTH is disabled, a server hangs, delivery stops, an RBAC scope loses a mailbox, a
user's delegated sign-in is revoked and signed in again, Microsoft Graph is closed to one mailbox), every ${DEMO_CYCLE_SECONDS} s. The banner prints check, doctor, token and report commands for the demo's own monitors.json.
--state-dir DIR holds that file and the history (default ./mailprobe-demo, or demo/ in MAILPROBE_STATE_DIR);
it stays after Ctrl-C so the report can be read afterwards; --reset removes it first. MAILPROBE_LISTEN sets
--listen's default (127.0.0.1:9465). Stop with Ctrl-C; --duration stops it by itself.`;

const DEMO_OPTIONS = {
  listen: { type: 'string' },
  'state-dir': { type: 'string' },
  reset: { type: 'boolean' },
  'web.config.file': { type: 'string' },
  schedule: { type: 'string' },
  duration: { type: 'string' },
  'log-format': { type: 'string' },
} satisfies Options;

export const demoCommand = defineCommand({ name: 'demo', help: DEMO_HELP, options: DEMO_OPTIONS, run: demo });

async function demo({ values, io }: CommandInput<typeof DEMO_OPTIONS>): Promise<number> {
  const flags = listenerFlags('demo', values, io.env);
  const duration = values.duration === undefined ? undefined : Number(values.duration);
  if (duration !== undefined && !(duration > 0)) throw new UsageError('demo: --duration takes a number of seconds');
  const checks: CheckKind[] = CHECK_KINDS.filter((check) => check in PROBES);
  const listen = flags.listen ?? '127.0.0.1:9465';
  const stateEnv = io.env.MAILPROBE_STATE_DIR;
  const dir = resolve(io.cwd, values['state-dir'] ?? (stateEnv ? join(stateEnv, 'demo') : 'mailprobe-demo'));
  if (values.reset) rmSync(dir, { recursive: true, force: true });
  const env = await startDemoEnvironment({ schedule: values.schedule ?? '*/10 * * * * *', checks, listen, dir, stateDir: stateEnv, delegated: true });
  try {
    // The delegated monitor's `mailprobe login`, before the agent's first check and again when the script renews it.
    const signInUsers = async (): Promise<void> => {
      for (const line of await signInDemoUsers(env, io)) print(io.stdout, `demo: ${line}`);
    };
    await signInUsers();
    env.signInAgain = signInUsers;
    const format = values['log-format'] === 'json' || values['log-format'] === 'pretty' ? values['log-format'] : 'auto';
    const webConfigFile = flags.webConfigFile === undefined ? undefined : resolve(io.cwd, flags.webConfigFile);
    const listenFrom = flags.listenFrom ?? 'the demo’s default';
    const handle = await startAgent(env.config, { io, format, listen, listenFrom, ...(webConfigFile ? { webConfigFile } : {}) });
    print(io.stdout, demoBanner(handle.http.url, env.config.file, dir, io.cwd, env.config.monitors.length));
    const started = Date.now();
    const script = playDemoScript(env, {
      cycleSeconds: DEMO_CYCLE_SECONDS,
      onEvent: (event) => print(io.stdout, `demo +${Math.round((Date.now() - started) / 1000)} s: ${event.description}`),
    });
    const stopAfter = duration === undefined ? undefined : setTimeout(() => process.kill(process.pid, 'SIGTERM'), duration * 1000);
    await untilSignal(handle, undefined);
    clearTimeout(stopAfter);
    script.stop();
    print(
      io.stdout,
      `mailprobe demo stopped. The history stays in ${shown(dir, io.cwd)}: ${reportCommand(env.config.file, io.cwd)}\n  (mailprobe demo --reset starts afresh; rm -r ${shown(dir, io.cwd)} removes it)`,
    );
  } finally {
    await env.close();
  }
  return EXIT.ok;
}

/**
 * Signs the demo's delegated monitors in as `mailprobe login` does (device code, stored encrypted in the state
 * folder); the emulator approves each code as the person at the browser would. One line per account.
 */
export async function signInDemoUsers(env: DemoEnvironment, io: CliIO): Promise<string[]> {
  const told: string[] = [];
  for (const tenant of env.config.tenants.values()) {
    if (!tenant.delegated) continue;
    const quiet = { ...io, stdout: discard(), stderr: discard() };
    const exit = await signIn(tenant, { io: quiet, clock: systemClock, sleep: () => Promise.resolve() });
    const { account } = tenant.delegated;
    told.push(
      exit === EXIT.ok
        ? `${account} signed in with the device code (mailprobe login; the emulator approved it as the person would)`
        : `${account} could not sign in (mailprobe login exited ${exit})`,
    );
  }
  return told;
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

/** A path as the reader would type it from here: relative inside the working folder, absolute outside. */
function shown(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  const inside = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  return /\s/.test(path) ? JSON.stringify(inside ? rel : path) : inside ? rel : path;
}

function reportCommand(config: string, cwd: string): string {
  return `npx mailprobe report --config ${shown(config, cwd)} --period this`;
}

/** What a newcomer needs to follow the demo: where to look, what will break when, and what to type. */
export function demoBanner(url: string, config: string, dir: string, cwd: string, monitors: number): string {
  const file = shown(config, cwd);
  return [
    '',
    'mailprobe demo — everything runs on this machine against emulated Entra ID and Exchange Online.',
    `  status page: ${url}/status   (operators: ${url}/status/detail)`,
    `  metrics:     ${url}/metrics        status API: ${url}/api/status`,
    `  config:      ${file} (${monitors} monitors; history in ${shown(dir, cwd)}, kept after Ctrl-C)`,
    `  what happens, one fault at a time, every ${DEMO_CYCLE_SECONDS} s:`,
    ...DEMO_SCRIPT.map((event) => `    +${String(event.atSeconds).padStart(3)} s  ${event.description}`),
    '  try, in another terminal while the demo runs:',
    `    npx mailprobe check --config ${file} --monitor fabrikam-scanner`,
    `    npx mailprobe doctor --config ${file} --monitor northwind-orders`,
    `    npx mailprobe token --config ${file} --tenant northwind`,
    `    ${reportCommand(config, cwd)}`,
    '  Ctrl-C stops the demo.',
    '',
  ].join('\n');
}
