import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { baseImage, command, imageConfig, mountImage, npmCacheCopy, runInImage, runToEnd, type ImageConfig, type ImageRun } from '../support/image.js';
import { sampleValue } from '../support/agent-process.js';
import { pickPorts } from '../support/testbed/ports.js';

// The real Dockerfile, built by buildah (no Docker engine and no registry here) on a local stand-in for
// node:20-bookworm-slim, then run from the image's own filesystem as a container runtime would run it.

const IMAGE = 'localhost/mailprobe:test';
// A cold build (debootstrap, npm ci, tsc) takes minutes on a busy machine; later runs reuse the cache.
const BUILD_TIMEOUT_MS = 1_500_000;
const asRoot = process.getuid?.() === 0;

let config: ImageConfig;
let mounted: { root: string; remove(): Promise<void> } | undefined;
let volume: string;
let agent: ChildProcess | undefined;
const output: string[] = [];
const cleanup: string[] = [];

async function fetchText(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.text() };
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (agent?.exitCode !== null && agent?.exitCode !== undefined) break;
    await sleep(500);
  }
  throw new Error(`timed out waiting for ${what}\n--- output of the image ---\n${output.join('').slice(-4000)}`);
}

before(
  async () => {
    if (!asRoot) return;
    const started = Date.now();
    const [build, slim] = [await baseImage('build'), await baseImage('slim')];
    const baseSeconds = (Date.now() - started) / 1000;
    const cache = await npmCacheCopy();
    cleanup.push(cache);
    const revision = (await command('git', ['rev-parse', '--short', 'HEAD']).catch(() => 'unknown')).trim();
    await command(
      'buildah',
      [
        'bud',
        '--isolation',
        'chroot',
        '--format',
        'docker',
        '--layers',
        '--pull-never',
        '--build-arg',
        `BUILD_IMAGE=${build}`,
        '--build-arg',
        `NODE_IMAGE=${slim}`,
        '--build-arg',
        'npm_config_offline=true',
        '--build-arg',
        `REVISION=${revision}`,
        '--volume',
        `${cache}:/root/.npm`,
        '--tag',
        IMAGE,
        '--file',
        'Dockerfile',
        '.',
      ],
      BUILD_TIMEOUT_MS,
    );
    console.log(`image: base ${baseSeconds.toFixed(0)} s, base + build ${((Date.now() - started) / 1000).toFixed(0)} s`);
    config = await imageConfig(IMAGE);
    mounted = await mountImage(IMAGE);
    volume = mkdtempSync(join(tmpdir(), 'mailprobe-volume-'));
    cleanup.push(volume);
    // As a fresh named volume is (Docker copies the image's folder with its owner), or as fsGroup does in Kubernetes.
    const [uid, gid] = config.User.split(':').map(Number);
    chownSync(volume, uid ?? 0, gid ?? 0);
  },
  { timeout: BUILD_TIMEOUT_MS },
);

after(async () => {
  if (agent && agent.exitCode === null) {
    agent.kill('SIGTERM');
    await Promise.race([new Promise((resolve) => agent?.once('exit', resolve)), sleep(20_000)]);
    if (agent.exitCode === null) agent.kill('SIGKILL');
  }
  await mounted?.remove();
  for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
});

function run(extra: Partial<ImageRun> = {}): ImageRun {
  if (!mounted) throw new Error('image not mounted');
  return { root: mounted.root, config, volume, ...extra };
}

describe('the container image, built with buildah from the Dockerfile', { skip: asRoot ? false : 'buildah --isolation chroot and chroot need root' }, () => {
  test('its config: non-root user, one volume, HEALTHCHECK through mailprobe healthcheck, OCI labels', () => {
    const [uid] = config.User.split(':');
    assert.match(config.User, /^\d+:\d+$/, 'numeric, so Kubernetes runAsNonRoot can check it');
    assert.notEqual(Number(uid), 0);
    assert.deepEqual(Object.keys(config.Volumes ?? {}), ['/var/lib/mailprobe']);
    assert.ok(config.Env.includes('MAILPROBE_STATE_DIR=/var/lib/mailprobe'));
    // The image states its listener choice (issue 25): every interface, no credential, exposure decided by -p.
    assert.ok(config.Env.includes('MAILPROBE_LISTEN=0.0.0.0:9465') && config.Env.includes('MAILPROBE_INSECURE_LISTEN=true'));
    assert.deepEqual(config.Healthcheck?.Test.slice(0, 4), ['CMD', 'node', '/app/bin/mailprobe.js', 'healthcheck']);
    assert.equal(config.Labels?.['org.opencontainers.image.title'], 'mailprobe');
    for (const label of ['version', 'revision', 'licenses', 'description']) assert.ok(config.Labels?.[`org.opencontainers.image.${label}`], label);
  });

  test('holds production dependencies only, the native module built for it, and no curl or compiler', async () => {
    const root = mounted!.root;
    assert.ok(existsSync(join(root, 'app/node_modules/prom-client/package.json')));
    for (const dev of ['typescript', 'tsx', '@types/node', 'playwright-core'])
      assert.ok(!existsSync(join(root, 'app/node_modules', dev)), `${dev} is a devDependency`);
    for (const bin of ['usr/bin/curl', 'usr/bin/wget', 'usr/bin/g++', 'usr/bin/make']) assert.ok(!existsSync(join(root, bin)), bin);
    // The history store's SQLite, compiled in the build stage, loads in the runtime image.
    const sqlite = await runToEnd(
      run({
        args: [],
        config: {
          ...config,
          Entrypoint: ['node', '-e', "console.log(new (require('/app/node_modules/better-sqlite3'))(':memory:').prepare('select sqlite_version() v').get().v)"],
        },
      }),
    );
    assert.equal(sqlite.code, 0, sqlite.output);
    assert.match(sqlite.output.trim(), /^3\.\d+\.\d+$/);
    assert.ok(!existsSync(join(root, 'app/src')) && existsSync(join(root, 'app/dist/src/cli/main.js')), 'compiled output, not sources');
  });

  test('runs the demo on a read-only root: /healthz 200, the demo’s /metrics, state in the volume, healthcheck 0/1', { timeout: 180_000 }, async () => {
    const [port, closed] = await pickPorts(2);
    // docker run -e MAILPROBE_LISTEN=...: a free port instead of the image's 9465, which may be taken here.
    // Without a mounted monitors.json the image refuses, naming the path, instead of running the demo.
    const refused = await runToEnd(run({ env: { MAILPROBE_LISTEN: `127.0.0.1:${port}` } }));
    assert.equal(refused.code, 2, refused.output);
    assert.match(refused.output, /no monitors file at \/etc\/mailprobe\/monitors\.json \(MAILPROBE_CONFIG\)\. .*mailprobe demo/);
    agent = runInImage(run({ env: { MAILPROBE_LISTEN: `127.0.0.1:${port}` }, args: ['demo'] }));
    agent.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    agent.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    const url = `http://127.0.0.1:${port}`;

    const health = await until(
      '/healthz',
      async () => {
        const reply = await fetchText(`${url}/healthz`);
        return reply.status === 200 ? reply : undefined;
      },
      60_000,
    );
    assert.equal(health.body, 'ok\n');
    const metrics = await until(
      'a demo check on /metrics',
      async () => {
        const { body } = await fetchText(`${url}/metrics`);
        return sampleValue(body, 'mailprobe_check_success', { monitor: 'contoso-helpdesk', check: 'imap' }) === 1 ? body : undefined;
      },
      90_000,
    );
    assert.match(metrics, /^mailprobe_build_info\{version="[^"]+"\} 1$/m);
    assert.equal(sampleValue(metrics, 'mailprobe_shard_info', { shard: '0', total_shards: '1' }), 1);
    assert.match(output.join(''), /mailprobe demo — everything runs on this machine/);

    // The probe-id key is the agent's state: it lands in the volume (MAILPROBE_STATE_DIR), written 0600.
    const key = join(volume, 'probe-id.key');
    await until('the probe-id key in the volume', async () => (existsSync(key) ? true : undefined), 60_000);
    assert.equal(statSync(key).mode & 0o777, 0o600);
    assert.match(readFileSync(key, 'utf8'), /^[0-9a-f]{64}\n$/);

    const healthy = await runToEnd(run({ env: { MAILPROBE_LISTEN: `127.0.0.1:${port}` }, args: ['healthcheck'] }));
    assert.equal(healthy.code, 0, healthy.output);
    const unhealthy = await runToEnd(run({ env: { MAILPROBE_LISTEN: `127.0.0.1:${closed}` }, args: ['healthcheck', '--timeout', '3'] }));
    assert.equal(unhealthy.code, 1, unhealthy.output);
    assert.match(unhealthy.output, /unhealthy: .*ECONNREFUSED/);

    // The root really is read-only: only /tmp and the volume take writes.
    const write = await runToEnd(run({ args: [], config: { ...config, Entrypoint: ['node', '-e', "require('fs').writeFileSync('/etc/mailprobe/x', '')"] } }));
    assert.notEqual(write.code, 0);
    assert.match(write.output, /EROFS/);

    agent.kill('SIGTERM');
    const code = await new Promise((resolve) => agent?.once('exit', resolve));
    assert.equal(code, 0, 'SIGTERM stops the agent cleanly');
  });
});
