import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { CHECK_KINDS } from '../../src/core/check.js';

// A check's differences live in its descriptor: code elsewhere reads CHECK[check] and never spells a check's name.
// Protocol names are the same words, so the files that describe a protocol are allowed as well.
const ALLOWED: Record<string, string> = {
  'src/core/check.ts': 'the names themselves',
  'src/core/checks.ts': 'the check descriptors',
  'src/core/protocols.ts': 'the protocol descriptors',
  'src/core/clouds.ts': 'the cloud table: which Exchange host serves a protocol',
  'src/probes/': 'the probes',
  'src/config/schema.ts': 'the schema',
  'src/sandbox/': 'the emulator',
  'src/diagnose/reply.ts': 'each protocol’s server replies, matched per protocol',
  'src/diagnose/remediation.ts': 'fixes of protocol-specific reasons (SMTP AUTH switches, POP’s two-step SASL)',
};

const NAMED = new RegExp(`(['"\`])(${CHECK_KINDS.join('|')})\\1`);

function filesUnder(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(process.cwd(), join(entry.parentPath, entry.name)));
}

test('no check-kind name is spelled outside the descriptors, probes, schema, emulator and protocol catalogues', () => {
  const files = filesUnder('src');
  assert.ok(files.length > 100, `found only ${files.length} source files; is the working directory the repository root?`);
  const offenders = files
    .filter((file) => !Object.keys(ALLOWED).some((allowed) => file === allowed || (allowed.endsWith('/') && file.startsWith(allowed))))
    .flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .map((line, index) => ({ line, at: `${file}:${index + 1}` }))
        .filter(({ line }) => NAMED.test(line))
        .map(({ line, at }) => `${at}: ${line.trim()}`),
    );
  assert.deepEqual(offenders, [], 'read the difference from the check or protocol descriptor (src/core/checks.ts, src/core/protocols.ts) instead');
});

test('the grep finds what it is meant to find', () => {
  for (const line of [`if (check === 'roundtrip') {`, `checks: ["imap", "smtp"]`, 'const p = `pop3`;']) assert.ok(NAMED.test(line), line);
  for (const line of [`PROTOCOL.smtp.role`, `'smtp_auth_disabled'`, `imap4rev2: true`]) assert.ok(!NAMED.test(line), line);
});
