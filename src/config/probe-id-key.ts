import { existsSync, readFileSync } from 'node:fs';
import { errorCode } from './secrets.js';

// The probe-id key file's format has this one home: the runner reads keys through it, and the loader checks an
// existing file with it, so a corrupt file is a configuration error at load instead of every sending check
// failing later with "configuration invalid".
const KEY_LINE = /^[0-9a-f]{64}$/;

/** The keys in a key file's text (one per line, 64 hex digits; blank and # lines ignored), or why there are none. */
export function parseProbeIdKeys(text: string): { ok: true; keys: Buffer[] } | { ok: false; message: string } {
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const bad = lines.findIndex((line) => !KEY_LINE.test(line));
  if (bad >= 0) return { ok: false, message: `key ${bad + 1} is not 64 hex digits` };
  if (lines.length === 0) return { ok: false, message: 'holds no key' };
  return { ok: true, keys: lines.map((line) => Buffer.from(line, 'hex')) };
}

/** What is wrong with an existing key file; undefined when it is fine or not created yet. */
export function probeIdKeyFileProblem(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return `cannot read the probe-id key (${errorCode(error)}): ${file}`;
  }
  const parsed = parseProbeIdKeys(text);
  return parsed.ok ? undefined : `the probe-id key is not well-formed (${parsed.message}): ${file}`;
}
