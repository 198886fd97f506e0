import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from './errors.js';
import { schemaIssue } from './issues.js';
import { knownKeysAt } from './json-schema.js';
import { blankComments, lineAndColumn } from './jsonc.js';
import { resolveConfig } from './resolve.js';
import { MonitorsFile } from './schema.js';
import { errorCode } from './secrets.js';
import type { ConfigOverrides, LoadedConfig } from './types.js';

/** What the environment overrides in every monitors file: MAILPROBE_STATE_DIR. */
export function envOverrides(env: NodeJS.ProcessEnv): ConfigOverrides {
  return { stateDir: env.MAILPROBE_STATE_DIR };
}

export function loadConfigFile(file: string, overrides: ConfigOverrides = {}): LoadedConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([{ file: path, path: '', message: `cannot read the file (${errorCode(error)})` }]);
  }
  return parseConfig(text, path, overrides);
}

export function parseConfig(text: string, file: string, overrides: ConfigOverrides = {}): LoadedConfig {
  const input = parseJson(text, file);
  const parsed = MonitorsFile.safeParse(input);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => schemaIssue(file, issue, knownKeysAt)));
  return resolveConfig(parsed.data, file, overrides);
}

function parseJson(text: string, file: string): unknown {
  // Large generated files carry no comments: plain JSON first spares a character-by-character copy of megabytes.
  try {
    return JSON.parse(text);
  } catch {
    // Comments, or a real error: blanked text keeps the positions the message points at.
  }
  const blanked = blankComments(text);
  try {
    return JSON.parse(blanked);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const position = /position (\d+)/.exec(message);
    const where = position ? lineAndColumn(blanked, Number(position[1])) : undefined;
    const at = where ? ` at line ${where.line}, column ${where.column}` : '';
    throw new ConfigError([{ file, path: '', message: `not valid JSON${at}: ${message.replace(/ in JSON.*$/, '')}` }]);
  }
}
