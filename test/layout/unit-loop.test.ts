import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

// `npm run test:unit` promises a loop that needs only Node and the packages: no Debian tools, no child processes.
// A test that needs either lives in one of these folders, which only `npm test` runs.
const INTEGRATION_FOLDERS = ['test/integration', 'test/e2e', 'test/testbed'];
const SPAWNS = /\bfrom ['"](node:)?child_process['"]/;

function filesUnder(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(process.cwd(), join(entry.parentPath, entry.name)));
}

/** The file and every test/ or src/ module it reaches through relative imports. */
function reached(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  for (const [, target] of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) {
    reached(relative(process.cwd(), resolve(dirname(file), `${target}.ts`)), seen);
  }
  return seen;
}

test('no unit test starts a child process, directly or through what it imports', () => {
  const unit = filesUnder('test').filter((file) => file.endsWith('.test.ts') && !INTEGRATION_FOLDERS.some((folder) => file.startsWith(`${folder}/`)));
  assert.ok(unit.length > 40, `found only ${unit.length} unit tests; is the working directory the repository root?`);
  const offenders = unit.flatMap((file) =>
    [...reached(file)].filter((module) => SPAWNS.test(readFileSync(module, 'utf8'))).map((module) => `${file} → ${module}`),
  );
  assert.deepEqual(offenders, [], 'move these tests to test/integration/ (or stop spawning)');
});
