import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { repoPath } from '../support/repo.js';

// Issue 25 row 12: the base images were named by tag only, so a re-pushed tag changed the image unseen.

const ARG_LINE = /^ARG (BUILD_IMAGE|NODE_IMAGE)=(.+)$/gm;

function baseImages(dockerfile: string): Map<string, string> {
  return new Map([...dockerfile.matchAll(ARG_LINE)].map((match) => [match[1] ?? '', match[2] ?? '']));
}

describe('the Dockerfile’s base images', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-pin-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('are pinned by digest, beside the Node 20 bookworm tag they came from', () => {
    const images = baseImages(readFileSync(repoPath('Dockerfile'), 'utf8'));
    assert.match(images.get('BUILD_IMAGE') ?? '', /^docker\.io\/library\/node:20-bookworm@sha256:[0-9a-f]{64}$/);
    assert.match(images.get('NODE_IMAGE') ?? '', /^docker\.io\/library\/node:20-bookworm-slim@sha256:[0-9a-f]{64}$/);
  });

  test('scripts/pin-base-images.sh moves both pins to the digest of what the registry serves for the tag', () => {
    // A stand-in for skopeo: the manifest list a registry would serve, different per tag.
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'skopeo'), '#!/bin/sh\n[ "$1 $2" = "inspect --raw" ] || exit 9\nprintf \'{"manifests":"%s"}\' "$3"\n');
    chmodSync(join(bin, 'skopeo'), 0o755);
    const dockerfile = join(dir, 'Dockerfile');
    copyFileSync(repoPath('Dockerfile'), dockerfile);
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` };
    execFileSync('bash', [repoPath('scripts/pin-base-images.sh'), dockerfile], { env, stdio: 'pipe' });
    const digestOf = (tag: string): string => createHash('sha256').update(`{"manifests":"docker://${tag}"}`).digest('hex');
    const images = baseImages(readFileSync(dockerfile, 'utf8'));
    assert.equal(images.get('BUILD_IMAGE'), `docker.io/library/node:20-bookworm@sha256:${digestOf('docker.io/library/node:20-bookworm')}`);
    assert.equal(images.get('NODE_IMAGE'), `docker.io/library/node:20-bookworm-slim@sha256:${digestOf('docker.io/library/node:20-bookworm-slim')}`);
    // Run again: nothing left to move, nothing said.
    const again = spawnSync('bash', [repoPath('scripts/pin-base-images.sh'), dockerfile], { env, encoding: 'utf8' });
    assert.equal(again.status, 0);
    assert.equal(again.stderr, '');
  });

  test('without skopeo the script says what it needs and exits 2', () => {
    const run = spawnSync('/bin/bash', [repoPath('scripts/pin-base-images.sh'), join(dir, 'Dockerfile')], { env: { PATH: '/nonexistent' }, encoding: 'utf8' });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /needs skopeo/);
  });
});
