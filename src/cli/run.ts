import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { LoadedConfig } from '../config/types.js';
import { untilSignal } from '../daemon/signals.js';
import { startAgent } from '../daemon/start.js';
import { demoCommand } from './demo.js';
import { configPath, EXIT, loadConfig, print, UsageError, defineCommand, type CommandInput, type Options } from './io.js';
import { listenerFlags } from './listener-flags.js';

export const RUN_HELP = `Usage: mailprobe run [--config FILE] [--listen HOST:PORT] [--web.config.file FILE] [--log-format json|pretty]
                     [--shard I --total-shards N]

The agent: runs every monitor's checks on its schedule and serves /metrics, /healthz, /readyz and
/api/status. SIGHUP (or saving the file) reloads the configuration; an invalid file is logged and the
running one stays. SIGTERM/SIGINT stop scheduling, let checks in flight finish, and exit 0.
--web.config.file takes a Prometheus exporter-toolkit web configuration file (TLS, client certificates,
basic_auth_users); /healthz and /readyz stay open, /metrics and /api/* then need a credential.
With the shipped example monitors.json (placeholder IDs) it runs the built-in offline demo instead, and says
so on stderr; a monitors file that does not exist is an error (exit 2), never the demo.
MAILPROBE_LISTEN sets --listen's default, MAILPROBE_WEB_CONFIG_FILE --web.config.file's; MAILPROBE_STATE_DIR replaces agent.stateDir.
--total-shards N divides the monitors among N replicas (rendezvous hashing of the monitor name) and this
one runs shard I (0-based); also MAILPROBE_SHARD / MAILPROBE_TOTAL_SHARDS, agent.shard / agent.totalShards,
or I from a StatefulSet pod name such as mailprobe-2 (POD_NAME, HOSTNAME). 'mailprobe shards' shows the split.`;

const RUN_OPTIONS = {
  config: { type: 'string' },
  listen: { type: 'string' },
  'web.config.file': { type: 'string' },
  'log-format': { type: 'string' },
  shard: { type: 'string' },
  'total-shards': { type: 'string' },
} satisfies Options;

export const runCommand = defineCommand({ name: 'run', help: RUN_HELP, options: RUN_OPTIONS, run: run });

async function run({ values, io }: CommandInput<typeof RUN_OPTIONS>): Promise<number> {
  const { listen, listenFrom, webConfigFile } = listenerFlags('run', values, io.env);
  const file = configPath(values.config, io);
  const demoArgs = [...(listen ? ['--listen', listen] : []), ...(webConfigFile ? ['--web.config.file', webConfigFile] : [])];
  // A missing file is an error, never the demo: a monitors.json mounted at the wrong path must not look healthy.
  if (!existsSync(file)) {
    const named = values.config !== undefined ? '--config' : io.env.MAILPROBE_CONFIG !== undefined ? 'MAILPROBE_CONFIG' : 'the default, ./monitors.json';
    throw new UsageError(
      `run: no monitors file at ${file} (${named}). Write or mount yours there, give another with --config FILE, or run the offline demo: mailprobe demo`,
    );
  }
  const config = loadConfig(file, io);
  if (isShippedExample(config)) {
    print(
      io.stderr,
      [
        `mailprobe: ${file} still holds the example's placeholder client ID ${PLACEHOLDER_CLIENT_ID}:`,
        '  running the built-in OFFLINE DEMO against emulated servers, not your tenant.',
        '  Bring your tenant: put its IDs in the file (README, "Bring your tenant"), then run mailprobe again.',
      ].join('\n'),
    );
    return demoCommand(demoArgs, io);
  }
  const format = values['log-format'] === 'json' || values['log-format'] === 'pretty' ? values['log-format'] : 'auto';
  const handle = await startAgent(config, {
    io,
    format,
    shardFlags: { shard: values.shard, totalShards: values['total-shards'] },
    ...(listen ? { listen, listenFrom } : {}),
    ...(webConfigFile ? { webConfigFile: resolve(io.cwd, webConfigFile) } : {}),
  });
  await untilSignal(handle);
  return EXIT.ok;
}

// Entra never issues the nil GUID as a client ID, so it marks a file nobody has filled in yet.
const PLACEHOLDER_CLIENT_ID = '00000000-0000-0000-0000-000000000000';

function isShippedExample(config: LoadedConfig): boolean {
  return [...config.tenants.values()].every((tenant) => tenant.clientId === PLACEHOLDER_CLIENT_ID);
}
