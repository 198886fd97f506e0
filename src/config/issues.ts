import type { z } from 'zod';
import type { ConfigIssue } from './errors.js';
import { jsonPath } from './errors.js';
import { CREDENTIAL_TYPES } from './schema.js';

// zod's own wording ("Too big: expected number to be <=65535") read beside ours as a different program; every
// issue the schema can raise is put in the loader's words here, and an unknown key names the closest known one.

type Issue = z.core.$ZodIssue;

export function schemaIssue(file: string, issue: Issue, knownKeys: (path: ReadonlyArray<PropertyKey>) => readonly string[]): ConfigIssue {
  return { file, path: jsonPath(issue.path), message: issueMessage(issue, knownKeys) };
}

function issueMessage(issue: Issue, knownKeys: (path: ReadonlyArray<PropertyKey>) => readonly string[]): string {
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeys(issue.path);
      const keys = issue.keys.map((key) => {
        const near = closest(key, known);
        return near ? `"${key}" (did you mean "${near}"?)` : `"${key}"`;
      });
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${keys.join(', ')}`;
    }
    case 'invalid_union':
      if ('note' in issue && issue.note === 'No matching discriminator') {
        const types = CREDENTIAL_TYPES.map((type) => `"${type}"`);
        return `expected "type" to be ${types.slice(0, -1).join(', ')} or ${types.at(-1) ?? ''}`;
      }
      return strip(issue.message);
    case 'invalid_type': {
      const received = / received (\w+)$/.exec(issue.message)?.[1];
      if (received === 'undefined') return `missing (expected ${issue.expected})`;
      return `expected ${article(issue.expected)}${received ? `, got ${article(received)}` : ''}`;
    }
    case 'too_small':
      return bound('at least', 'more than', issue.minimum, issue.inclusive, issue.origin);
    case 'too_big':
      return bound('at most', 'less than', issue.maximum, issue.inclusive, issue.origin);
    case 'invalid_value':
      return `expected one of ${issue.values.map((value) => JSON.stringify(value)).join('|')}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    default:
      return strip(issue.message);
  }
}

/** Refinements carry our own messages; only zod's prefix goes. */
function strip(message: string): string {
  return message.replace(/^Invalid (input|option): /, '');
}

function bound(inclusiveWord: string, exclusiveWord: string, limit: number | bigint, inclusive: boolean | undefined, origin: string): string {
  const n = Number(limit);
  const word = inclusive === false ? exclusiveWord : inclusiveWord;
  if (origin === 'string') return n === 1 && word === 'at least' ? 'must not be empty' : `must be ${word} ${n} characters long`;
  if (origin === 'array' || origin === 'set') return n === 1 && word === 'at least' ? 'must list at least one entry' : `must have ${word} ${n} entries`;
  return `must be ${word} ${n}`;
}

function article(type: string): string {
  if (type === 'undefined' || type === 'null') return type;
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** The known key a typo most likely meant: same letters ignoring case and separators, or at most two edits away. */
export function closest(key: string, known: readonly string[]): string | undefined {
  const flat = (text: string): string => text.toLowerCase().replace(/[-_\s]/g, '');
  const same = known.find((candidate) => flat(candidate) === flat(key));
  if (same) return same;
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(flat(key), flat(candidate));
    if (distance <= Math.min(2, Math.floor(candidate.length / 3)) && (!best || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
