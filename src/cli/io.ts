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

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with usage errors that name the command, instead of Node's stack-traced TypeError. */
export function parseCommandArgs<T extends Options>(command: string, args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (error) {
    const message = error instanceof Error ? error.message.replace(/\. To specify.*$/s, '') : String(error);
    throw new UsageError(`${command}: ${message}. See 'mailprobe ${command} --help'.`);
  }
}

export function configPath(explicit: string | undefined, io: CliIO): string {
  return explicit ?? io.env.MAILPROBE_CONFIG ?? 'monitors.json';
}

/** The monitors file with what the environment overrides (MAILPROBE_STATE_DIR). */
export function loadConfig(file: string, io: CliIO): LoadedConfig {
  return loadConfigFile(file, envOverrides(io.env));
}
