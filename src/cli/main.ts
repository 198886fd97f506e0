import { ConfigError } from '../config/errors.js';
import { ExposedListenerError, ListenError } from '../http/listen-error.js';
import { demoCommand, DEMO_HELP } from './demo.js';
import { doctorCommand, DOCTOR_HELP } from './doctor.js';
import { healthcheckCommand, HEALTHCHECK_HELP } from './healthcheck.js';
import { loginCommand, LOGIN_HELP } from './login.js';
import { monitorsJsonSchema } from '../config/json-schema.js';
import { checkCommand, CHECK_HELP } from './check.js';
import { defineCommand, EXIT, print, UsageError, type CliIO, type Command } from './io.js';
import { notifyCommand, NOTIFY_HELP } from './notify.js';
import { reportCommand, REPORT_HELP } from './report-command.js';
import { runCommand, RUN_HELP } from './run.js';
import { shardsCommand, SHARDS_HELP } from './shards.js';
import { tokenCommand, TOKEN_HELP } from './token.js';
import { validateCommand, VALIDATE_HELP } from './validate.js';
import { VERSION } from '../daemon/version.js';

export const HELP = `mailprobe ${VERSION} — proves Microsoft 365 mailboxes still accept app-only OAuth over IMAP, POP3 and SMTP

Usage: mailprobe [command] [options]

Commands:
  run        the agent (default): scheduled checks, /metrics, /api/status
  demo       the offline demo: emulated Entra ID + Exchange Online, the agent, injected faults
  check      run the configured checks once and print the session, verdict and fix
  doctor     walk the admin's setup step by step and name the first broken one with its fix
  validate   check monitors.json and exit (0 valid, 2 invalid)
  token      get a token for a tenant and print its decoded claims
  login      sign a delegated monitor's user in (device code) and keep the refresh token encrypted
  schema     print the JSON Schema of monitors.json (for editors)
  report     the SLA report from the history: availability, SLO, error budget, incidents (text, md, csv, json, html)
  notify     notify --test: one test notification through each notifier, with each receiver's answer
  shards     show which replica runs which monitor for --total-shards N
  healthcheck  ask the running agent's /healthz (exit 0 healthy, 1 not): for container HEALTHCHECKs

Options:
  --config FILE   monitors file (default: $MAILPROBE_CONFIG or ./monitors.json)
  --help          this text; 'mailprobe COMMAND --help' for a command
  --version       print the version

Exit codes: 0 success, 1 a check failed, 2 bad usage or configuration, 3 internal error.

${RUN_HELP}

${CHECK_HELP}

${DOCTOR_HELP}

${DEMO_HELP}

${VALIDATE_HELP}

${TOKEN_HELP}

${LOGIN_HELP}

${REPORT_HELP}

${NOTIFY_HELP}

${SHARDS_HELP}

${HEALTHCHECK_HELP}`;

const SCHEMA_HELP = `Usage: mailprobe schema > monitors.schema.json

Prints the JSON Schema (draft-07) of monitors.json, for editors' completion and validation. The
repository ships it as schema/monitors.schema.json; "$schema": "./schema/monitors.schema.json" uses it.`;

export const COMMANDS: Record<string, Command> = {
  run: runCommand,
  check: checkCommand,
  doctor: doctorCommand,
  demo: demoCommand,
  validate: validateCommand,
  token: tokenCommand,
  login: loginCommand,
  report: reportCommand,
  notify: notifyCommand,
  shards: shardsCommand,
  healthcheck: healthcheckCommand,
  schema: defineCommand({
    name: 'schema',
    help: SCHEMA_HELP,
    options: {},
    run: ({ io }) => {
      io.stdout.write(monitorsJsonSchema());
      return EXIT.ok;
    },
  }),
};

const processIO: CliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };

export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h' || first === 'help') {
    print(io.stdout, HELP);
    return EXIT.ok;
  }
  if (first === '--version') {
    print(io.stdout, VERSION);
    return EXIT.ok;
  }
  const name = first === undefined || first.startsWith('-') ? 'run' : first;
  const command = COMMANDS[name];
  const args = first === undefined || first.startsWith('-') ? argv : rest;
  try {
    if (!command) throw new UsageError(`unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(', ')}. See 'mailprobe --help'.`);
    return await command(args, io);
  } catch (error) {
    return reportError(error, io);
  }
}

// Operators see what and where, never a stack trace; MAILPROBE_DEBUG=1 shows the stack of internal errors.
function reportError(error: unknown, io: CliIO): number {
  if (error instanceof ConfigError) {
    print(io.stderr, `mailprobe: invalid configuration\n${error.message}`);
    return EXIT.usage;
  }
  if (error instanceof ListenError || error instanceof ExposedListenerError) {
    print(io.stderr, `mailprobe: ${error.message}`);
    return EXIT.usage;
  }
  if (error instanceof UsageError) {
    print(io.stderr, `mailprobe: ${error.message}`);
    return EXIT.usage;
  }
  const message = error instanceof Error ? error.message : String(error);
  print(io.stderr, `mailprobe: internal error: ${message}`);
  if (io.env.MAILPROBE_DEBUG && error instanceof Error && error.stack) print(io.stderr, error.stack);
  return EXIT.internal;
}
