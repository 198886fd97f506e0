// The unit loop's compile (`npm run test:unit`): tsc -p tsconfig.json, but incremental, so an edit recompiles what
// it touches instead of the whole tree (a full compile is about 25 CPU-seconds on the 2-core machine).
//
// dist/ is trusted only as this script last left it. dist/.unit-build.json records every file in dist/ with its
// size and mtime; when dist/ holds anything else, lacks a recorded file or a file changed (npm test, npm run build,
// a hand edit, a deleted output), dist/ is removed and compiled from scratch, as `rm -rf dist && tsc` always did.
// After the compile, outputs whose source is gone are deleted, so a deleted or renamed test never runs from a
// stale .js, and every source must have its output. tsc itself recompiles a file whose text, imports' types or
// compiler options changed (it compares content hashes in dist/.unit.tsbuildinfo, not timestamps, so faketime
// does not matter).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

const DIST = 'dist';
const BUILD_INFO = join(DIST, '.unit.tsbuildinfo');
const MANIFEST = join(DIST, '.unit-build.json');
const SOURCE_ROOTS = ['src', 'test', 'bench', 'scripts']; // tsconfig.json "include"

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? walk(path) : [path];
  });
}

function snapshot() {
  const files = {};
  for (const path of walk(DIST)) {
    if (path === MANIFEST) continue;
    const stat = statSync(path);
    files[relative(DIST, path).split(sep).join('/')] = `${stat.size}:${stat.mtimeMs}`;
  }
  return files;
}

function trusted() {
  if (!existsSync(MANIFEST) || !existsSync(BUILD_INFO)) return false;
  let recorded;
  try {
    recorded = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  } catch {
    return false;
  }
  const now = snapshot();
  const names = Object.keys(now);
  return names.length === Object.keys(recorded).length && names.every((name) => recorded[name] === now[name]);
}

/** The source a file in dist/ was emitted from: x.js and x.js.map from x.ts, a JSON file from itself. */
function sourceOf(output) {
  const rel = relative(DIST, output);
  if (rel.endsWith('.js.map')) return rel.slice(0, -'.js.map'.length) + '.ts';
  if (rel.endsWith('.js')) return rel.slice(0, -'.js'.length) + '.ts';
  return rel;
}

function compile() {
  const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json', '--incremental', '--tsBuildInfoFile', BUILD_INFO], {
    stdio: 'inherit',
  });
  for (const output of walk(DIST)) {
    if (output === BUILD_INFO || output === MANIFEST) continue;
    if (!existsSync(sourceOf(output))) rmSync(output);
  }
  const missing = SOURCE_ROOTS.flatMap(walk)
    .filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))
    .filter((path) => !existsSync(join(DIST, path.slice(0, -'.ts'.length) + '.js')));
  return { status: tsc.status ?? 1, missing };
}

let fresh = !trusted();
if (fresh) rmSync(DIST, { recursive: true, force: true });
let result = compile();
if (result.missing.length > 0 && !fresh) {
  // An output vanished behind tsc's back: compile everything.
  rmSync(DIST, { recursive: true, force: true });
  fresh = true;
  result = compile();
}
if (result.missing.length > 0) {
  rmSync(DIST, { recursive: true, force: true });
  console.error(`build-unit: tsc wrote no output for ${result.missing.slice(0, 5).join(', ')}`);
  process.exit(1);
}
// Written after a failed compile too: the outputs are what tsc emitted, and tsc reports the errors again next time.
writeFileSync(MANIFEST, JSON.stringify(snapshot()));
process.exit(result.status);
