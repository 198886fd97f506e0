import { parseArgs, type ParseArgsConfig } from 'node:util';
import { envOverrides, loadConfigFile } from '../config/load.js';
import type { LoadedConfig } from '../config/types.js';

export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Documented in the README; scripts and cron wrappers depend on them. */
export const EXIT = {
  ok: 0,
  checkFailed: 1,
  usage: 2,
  internal: 3,
} as const;

export class UsageError extends Error {
  override name = 'UsageError';
}

export function print(stream: NodeJS.WritableStream, text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

export type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with usage errors that name the command, instead of Node's stack-traced TypeError. */
export function parseCommandArgs<T extends Options>(command: string, args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (error) {
    const message = error instanceof Error ? error.message.replace(/\. To specify.*$/s, '') : String(error);
    throw new UsageError(`${command}: ${message}. See 'mailprobe ${command} --help'.`);
  }
}

export type CommandValues<T extends Options> = ReturnType<typeof parseCommandArgs<T>>['values'];

export type Command = (args: string[], io: CliIO) => number | Promise<number>;

export interface CommandInput<T extends Options> {
  values: CommandValues<T>;
  io: CliIO;
  /** Loads the monitors file: --config, else MAILPROBE_CONFIG, else ./monitors.json, with the environment's overrides. */
  readConfig(): LoadedConfig;
}

export interface CommandSpec<T extends Options> {
  name: string;
  /** Printed for --help (and gathered into 'mailprobe --help'). */
  help: string;
  /** The command's options; --help is added. */
  options: T;
  run(input: CommandInput<T>): number | Promise<number>;
}

/**
 * One CLI command from its options, help and body. The preamble every command shares lives here: strict parsing
 * with usage errors that name the command, --help, and where the monitors file is. Errors become messages and
 * exit codes once, in main: a body throws UsageError or ConfigError (exit 2) for what the operator got wrong.
 */
export function defineCommand<T extends Options>(spec: CommandSpec<T>): Command {
  return (args, io) => {
    const { values } = parseCommandArgs(spec.name, args, { ...spec.options, help: { type: 'boolean' } });
    if ((values as { help?: boolean }).help) {
      print(io.stdout, spec.help);
      return EXIT.ok;
    }
    const explicit = (values as { config?: unknown }).config;
    const readConfig = (): LoadedConfig => loadConfig(configPath(typeof explicit === 'string' ? explicit : undefined, io), io);
    return spec.run({ values, io, readConfig });
  };
}

export function configPath(explicit: string | undefined, io: CliIO): string {
  return explicit ?? io.env.MAILPROBE_CONFIG ?? 'monitors.json';
}

/** The monitors file with what the environment overrides (MAILPROBE_STATE_DIR). */
export function loadConfig(file: string, io: CliIO): LoadedConfig {
  return loadConfigFile(file, envOverrides(io.env));
}
