import { resolve } from 'node:path';
import { listenProblem } from '../config/listen.js';
import { PROBES } from '../probes/registry.js';
import { CHECK_KINDS, type CheckKind } from '../core/check.js';
import { playDemoScript, startDemoEnvironment, DEMO_SCRIPT } from '../sandbox/demo.js';
import { EXIT, parseCommandArgs, print, UsageError, type CliIO } from './io.js';
import { untilSignal } from '../daemon/signals.js';
import { startAgent } from '../daemon/start.js';

export const DEMO_HELP = `Usage: mailprobe demo [--listen HOST:PORT] [--web.config.file FILE] [--schedule CRON] [--duration SECONDS]

Offline demo for a newcomer with no tenant: starts an Entra ID and Exchange Online emulator on loopback with
three tenants, runs the agent against them, and over a few minutes breaks and repairs things (a secret
expires, consent is revoked, SMTP AUTH is disabled, a server hangs) so metrics, logs and diagnoses can be
watched changing. Stop with Ctrl-C; --duration stops it by itself.`;

export async function demoCommand(args: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs('demo', args, {
    listen: { type: 'string' },
    'web.config.file': { type: 'string' },
    schedule: { type: 'string' },
    duration: { type: 'string' },
    'log-format': { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    print(io.stdout, DEMO_HELP);
    return EXIT.ok;
  }
  // MAILPROBE_LISTEN as for run: an image sets it once for the agent and its HEALTHCHECK.
  const listenFlag = values.listen ?? io.env.MAILPROBE_LISTEN;
  const listenIssue = listenFlag === undefined ? undefined : listenProblem(listenFlag);
  if (listenIssue) throw new UsageError(`demo: ${values.listen === undefined ? 'MAILPROBE_LISTEN' : '--listen'} "${listenFlag}": ${listenIssue}`);
  const duration = values.duration === undefined ? undefined : Number(values.duration);
  if (duration !== undefined && !(duration > 0)) throw new UsageError('demo: --duration takes a number of seconds');
  const checks: CheckKind[] = CHECK_KINDS.filter((check) => check in PROBES);
  const listen = listenFlag ?? '127.0.0.1:9465';
  const env = await startDemoEnvironment({ schedule: values.schedule ?? '*/10 * * * * *', checks, listen, stateDir: io.env.MAILPROBE_STATE_DIR });
  try {
    const format = values['log-format'] === 'json' || values['log-format'] === 'pretty' ? values['log-format'] : 'auto';
    const webConfigFile = values['web.config.file'] === undefined ? undefined : resolve(io.cwd, values['web.config.file']);
    const handle = await startAgent(env.config, { io, format, listen, ...(webConfigFile ? { webConfigFile } : {}) });
    print(
      io.stdout,
      [
        '',
        'mailprobe demo — everything runs on this machine against emulated Entra ID and Exchange Online.',
        `  metrics:  ${handle.http.url}/metrics`,
        `  status page: ${handle.http.url}/status   (operators: ${handle.http.url}/status/detail)`,
        `  status:   ${handle.http.url}/api/status`,
        `  config:   ${env.config.file} (generated; ${env.config.monitors.length} monitors, checks ${checks.join(', ')})`,
        '  what happens:',
        ...DEMO_SCRIPT.map((event) => `    +${String(event.atSeconds).padStart(3)} s  ${event.description}`),
        '  Ctrl-C stops the demo.',
        '',
      ].join('\n'),
    );
    const started = Date.now();
    const script = playDemoScript(env, {
      cycleSeconds: 200,
      onEvent: (event) => print(io.stdout, `demo +${Math.round((Date.now() - started) / 1000)} s: ${event.description}`),
    });
    const stopAfter = duration === undefined ? undefined : setTimeout(() => process.kill(process.pid, 'SIGTERM'), duration * 1000);
    await untilSignal(handle, undefined);
    clearTimeout(stopAfter);
    script.stop();
  } finally {
    await env.close();
  }
  return EXIT.ok;
}
