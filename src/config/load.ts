import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigError, jsonPath, type ConfigIssue } from './errors.js';
import { blankComments, lineAndColumn } from './jsonc.js';
import { resolveConfig } from './resolve.js';
import { CREDENTIAL_TYPES, MonitorsFile } from './schema.js';
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
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => schemaIssue(file, issue)));
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

function schemaIssue(file: string, issue: z.core.$ZodIssue): ConfigIssue {
  const path = jsonPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return { file, path, message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}` };
  }
  if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator') {
    const types = CREDENTIAL_TYPES.map((type) => `"${type}"`);
    return { file, path, message: `expected "type" to be ${types.slice(0, -1).join(', ')} or ${types.at(-1) ?? ''}` };
  }
  if (issue.code === 'invalid_type' && / received undefined$/.test(issue.message)) {
    return { file, path, message: `missing (expected ${issue.expected})` };
  }
  return { file, path, message: issue.message.replace(/^Invalid (input|option): /, '') };
}
