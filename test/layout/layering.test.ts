import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';

// docs/development.md states the layering as a table; .dependency-cruiser.cjs enforces it. Each row must be a rule
// and each rule a row, so a rule the docs promise cannot go missing and a rule nobody wrote down cannot creep in.

interface Rule {
  name: string;
  from: { path?: string; pathNot?: string };
  to: { path?: string; pathNot?: string; circular?: boolean };
}

const FOLDERS = readdirSync('src', { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

function enforced(): { rules: Rule[]; buildsOn: Map<string, string[]> } {
  const config = createRequire(import.meta.url)(join(process.cwd(), '.dependency-cruiser.cjs')) as { forbidden: Rule[] };
  const buildsOn = new Map<string, string[]>();
  for (const rule of config.forbidden) {
    const from = /^\^src\/(\w+)\/$/.exec(rule.from.path ?? '')?.[1];
    const allowed = /^\^src\/\(([\w|]+)\)\/$/.exec(rule.to.pathNot ?? '')?.[1];
    if (!rule.name.includes('-builds-on-') || !from || !allowed || rule.to.path !== '^src/') continue;
    buildsOn.set(
      from,
      allowed
        .split('|')
        .filter((folder) => folder !== from)
        .sort(),
    );
  }
  return { rules: config.forbidden, buildsOn };
}

function documented(): Map<string, string[]> {
  const text = readFileSync('docs/development.md', 'utf8');
  const section = text.slice(text.indexOf('### Layering'), text.indexOf('## Adding a protocol'));
  const rows = new Map<string, string[]>();
  for (const [, folder = '', imports = ''] of section.matchAll(/^\| `(\w+)` \| (.+) \|$/gm)) {
    const named = [...imports.matchAll(/`(\w+)`/g)].map((match) => match[1] ?? '').filter((name) => FOLDERS.includes(name));
    if (imports === 'nothing') rows.set(folder, []);
    else if (imports.startsWith('everything but '))
      rows.set(
        folder,
        FOLDERS.filter((name) => name !== folder && !named.includes(name)),
      );
    else rows.set(folder, named.sort());
  }
  return rows;
}

test('the layering table in docs/development.md is the rules dependency-cruiser enforces', () => {
  const { buildsOn } = enforced();
  const rows = documented();
  assert.deepEqual([...rows.keys()].sort(), FOLDERS, 'one row per folder of src');
  assert.deepEqual([...buildsOn.keys()].sort(), FOLDERS, 'one builds-on rule per folder of src');
  for (const folder of FOLDERS) assert.deepEqual(rows.get(folder), buildsOn.get(folder), `src/${folder}`);
});

test('the layering promises the docs spell out are rules', () => {
  const { rules, buildsOn } = enforced();
  for (const consumer of ['metrics', 'alerting', 'history', 'summary', 'http']) {
    assert.ok(!buildsOn.get(consumer)?.includes('runner'), `${consumer} ↛ runner: consumers of results read core, not the runner`);
  }
  for (const stored of ['history', 'summary']) assert.ok(!buildsOn.get(stored)?.includes('diagnose'), `${stored} ↛ diagnose`);
  assert.deepEqual(buildsOn.get('core'), [], 'core imports nothing in src');
  const sandboxUsers = [...buildsOn].filter(([, allowed]) => allowed.includes('sandbox')).map(([folder]) => folder);
  assert.deepEqual(sandboxUsers, ['cli'], 'only cli (the demo) imports sandbox');
  assert.deepEqual(
    [...buildsOn].filter(([, allowed]) => allowed.includes('cli')),
    [],
    'nothing imports cli',
  );
  assert.ok(
    rules.some((rule) => rule.to.circular === true && rule.from.path === '^src/'),
    'no folder cycles',
  );
  assert.ok(
    rules.some((rule) => rule.from.path === '^src/summary/' && rule.to.path === '^src/alerting/' && rule.to.pathNot === '^src/alerting/outbox\\.ts$'),
    "summary sends through alerting's outbox only",
  );
});
