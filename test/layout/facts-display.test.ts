import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

// What other folders read from a probe's outcome is a typed measurement (ProbeOutcome.measured); the free-form
// facts are for display only. The probes write facts; nothing else in src/ reads one by name.
const WRITERS = ['src/probes/'];
const NAMED_FACT = /\bfacts(?:\.(?!(?:filter|map|length|push|some|every|find|forEach|entries|keys|values)\b)[A-Za-z_]\w*|\[['"`])/;

test('no code outside the probes reads a fact by name: it reads the typed measurements', () => {
  const files = readdirSync('src', { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(process.cwd(), join(entry.parentPath, entry.name)))
    .filter((file) => !WRITERS.some((folder) => file.startsWith(folder)));
  assert.ok(files.length > 100, `found only ${files.length} files; is the working directory the repository root?`);
  const readers = files.flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line, index) => (NAMED_FACT.test(line) ? [`${file}:${index + 1}: ${line.trim()}`] : [])),
  );
  assert.deepEqual(readers, [], 'read outcome.measured (core/outcome.ts) instead, adding the field there if it is new');
});
