import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoPath } from '../support/repo.js';

const readme = readFileSync(repoPath('README.md'), 'utf8');

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

test('the README is read in ten minutes: at most ~5,000 words', () => {
  const words = readme.split(/\s+/).filter(Boolean).length;
  assert.ok(words <= 5200, `README has ${words} words`);
});

test('every link of the table of contents (and every other in-page link) reaches a heading', () => {
  const headings = new Set([...readme.matchAll(/^#{1,4} (.+)$/gm)].map((match) => anchor(match[1] ?? '')));
  const contents = readme.split(/^## Contents$/m)[1]?.split(/^## /m)[0] ?? '';
  assert.ok(contents.length > 0, 'no "## Contents" section');
  const links = [...readme.matchAll(/\]\(#([^)]+)\)/g)].map((match) => match[1] ?? '');
  assert.ok(links.length >= 10);
  assert.deepEqual(
    links.filter((link) => !headings.has(link)),
    [],
  );
});

test('the first screen has prerequisites, where to get it, and the two commands', () => {
  const firstScreen = readme.split(/^## /m)[0] ?? '';
  assert.match(firstScreen, /Node\.js 20 or later/);
  assert.match(firstScreen, /compiles it, which\s+needs a C\+\+ toolchain/);
  assert.match(firstScreen, /git clone /);
  assert.match(firstScreen, /^npm ci && npx mailprobe /m);
  assert.match(firstScreen, /^npm test /m);
});

test('the pictures the README shows are in the repository (npm run screenshots renews them)', () => {
  const pictures = [...readme.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((match) => match[1] ?? '');
  assert.deepEqual(pictures, ['docs/images/status.png', 'docs/images/check-failure.png']);
  for (const picture of pictures) {
    const bytes = readFileSync(repoPath(picture));
    assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG', picture);
    assert.ok(bytes.length < 300_000, `${picture} stays small`);
  }
});

test('no install instruction points at the npm registry, where the name is not ours', () => {
  assert.doesNotMatch(readme, /npm install (--global|-g) mailprobe\b/);
  assert.match(readme, /not published to the npm registry yet/);
});

test('benchmark narrative lives in bench/README.md; the README keeps one summary table', () => {
  assert.doesNotMatch(readme, /semi-space|heap snapshot|load average/i);
  const bench = readFileSync(repoPath('bench/README.md'), 'utf8');
  assert.match(bench, /semi-space/);
  assert.match(bench, /## Soak/);
});

// Application access policies are replaced by Exchange RBAC for Applications (docs/exchange-online-errors.md §10);
// nothing mailprobe ships (code, fixes, emulator, README, deploy files) tells an admin to create one.
test('nothing shipped suggests an application access policy', () => {
  const cmdlet = ['New', 'ApplicationAccessPolicy'].join('-');
  const files = ['README.md', ...['src', 'deploy', 'scripts'].flatMap((dir) => walk(repoPath(dir)))];
  assert.ok(files.length > 100);
  const offenders = files.filter((file) => readFileSync(file.startsWith('/') ? file : repoPath(file), 'utf8').includes(cmdlet));
  assert.deepEqual(offenders, []);
});

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)]));
}
