import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { repoPath } from '../support/promtool.js';

const run = promisify(execFile);
// What an installed mailprobe needs, and nothing else: no tests, sources, benchmarks or state.
const ALLOWED = [
  /^bin\/mailprobe\.js$/,
  /^dist\/src\/.+\.(js|js\.map|d\.ts)$/,
  /^schema\/[^/]+\.json$/,
  /^monitors\.json$/,
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
];

test('npm pack ships the program, its schema, the example, README and LICENSE only', async () => {
  // --ignore-scripts: dist/ was built by the test run itself; "prepare" would rebuild it.
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoPath('.'), encoding: 'utf8', timeout: 120_000 });
  const [pack] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
  const paths = (pack?.files ?? []).map((file) => file.path);
  for (const needed of ['bin/mailprobe.js', 'dist/src/cli/main.js', 'schema/monitors.schema.json', 'monitors.json', 'LICENSE', 'README.md']) {
    assert.ok(paths.includes(needed), `${needed} missing from the package`);
  }
  const stray = paths.filter((path) => !ALLOWED.some((pattern) => pattern.test(path)));
  assert.deepEqual(stray, [], 'files in the package that an install does not need');
});

test('the package is ready to publish except for the repository it must name', async () => {
  const manifest = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as {
    repository?: { url?: string };
    publishConfig?: { provenance?: boolean; access?: string };
    engines?: { node?: string };
  };
  assert.equal(manifest.publishConfig?.provenance, true);
  assert.equal(manifest.publishConfig?.access, 'public');
  assert.equal(manifest.engines?.node, '>=20');
  assert.match(manifest.repository?.url ?? '', /^git\+https:\/\//);
  // Until the placeholder is replaced, a publish stops before anything is uploaded.
  const refused = await run('npm', ['run', '--silent', 'prepublishOnly'], { cwd: repoPath('.'), encoding: 'utf8' }).then(
    () => undefined,
    (error: { code?: number; stderr?: string }) => error,
  );
  if (manifest.repository?.url?.includes('<owner>')) {
    assert.equal(refused?.code, 1);
    assert.match(refused?.stderr ?? '', /set repository\.url to the real repository first \(docs\/publishing\.md\)/);
  } else {
    assert.equal(refused, undefined);
  }
});
