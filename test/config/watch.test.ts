import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { watchConfigFile, type ConfigWatcher } from '../../src/config/watch.js';

// The poll fallback is switched off (an hour), so these prove the folder watch alone sees every kind of save.
const NO_POLL = { debounceMs: 50, pollMs: 3_600_000 };

function changes(file: string): { watcher: ConfigWatcher; next: () => Promise<void>; count: () => number } {
  let seen = 0;
  let waiting: (() => void) | undefined;
  const watcher = watchConfigFile(
    file,
    () => {
      seen += 1;
      waiting?.();
    },
    NO_POLL,
  );
  return {
    watcher,
    count: () => seen,
    next: () =>
      new Promise<void>((resolve, reject) => {
        // Generous: it bounds a missed event, it times nothing; a loaded machine may take seconds to deliver one.
        const timer = setTimeout(() => reject(new Error('no change seen within 30 s')), 30_000);
        waiting = () => {
          clearTimeout(timer);
          waiting = undefined;
          resolve();
        };
      }),
  };
}

describe('watchConfigFile', () => {
  let dir: string;
  let watcher: ConfigWatcher | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mailprobe-watch-'));
  });
  afterEach(() => {
    watcher?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('sees a file replaced by rename twice (vim, sed -i), and an edit in place after that', async () => {
    const file = join(dir, 'monitors.json');
    writeFileSync(file, '{"v":1}');
    const seen = changes(file);
    watcher = seen.watcher;
    for (const version of [2, 3]) {
      const next = seen.next();
      writeFileSync(join(dir, `.monitors.json.swp${version}`), `{"v":${version}}`);
      renameSync(join(dir, `.monitors.json.swp${version}`), file);
      await next;
    }
    const next = seen.next();
    writeFileSync(file, '{"v":4, "longer": true}');
    await next;
    assert.equal(seen.count(), 3);
  });

  test('sees a Kubernetes ConfigMap update: the ..data symlink swapped to a new folder, twice', async () => {
    // The layout kubelet writes: monitors.json -> ..data/monitors.json, ..data -> ..<timestamp>/
    mkdirSync(join(dir, '..2026_01'));
    writeFileSync(join(dir, '..2026_01', 'monitors.json'), '{"v":1}');
    symlinkSync('..2026_01', join(dir, '..data'));
    symlinkSync(join('..data', 'monitors.json'), join(dir, 'monitors.json'));
    const seen = changes(join(dir, 'monitors.json'));
    watcher = seen.watcher;
    for (const version of ['..2026_02', '..2026_03']) {
      const next = seen.next();
      mkdirSync(join(dir, version));
      writeFileSync(join(dir, version, 'monitors.json'), `{"v":"${version}"}`);
      symlinkSync(version, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      await next;
    }
    assert.equal(seen.count(), 2);
  });

  test('a file that vanishes is not a change; its return is', async () => {
    const file = join(dir, 'monitors.json');
    writeFileSync(file, '{"v":1}');
    const seen = changes(file);
    watcher = seen.watcher;
    rmSync(file);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(seen.count(), 0);
    const next = seen.next();
    writeFileSync(file, '{"v":2}');
    await next;
    assert.equal(seen.count(), 1);
  });
});
