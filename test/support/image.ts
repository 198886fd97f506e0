import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** What `docker run` takes from an image's config; read from `buildah inspect`. */
export interface ImageConfig {
  User: string;
  Env: string[];
  Entrypoint: string[];
  Cmd: string[];
  WorkingDir: string;
  Volumes?: Record<string, unknown>;
  ExposedPorts?: Record<string, unknown>;
  Labels?: Record<string, string>;
  Healthcheck?: { Test: string[]; Interval: number; Timeout: number; Retries: number };
}

export async function command(file: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const { stdout } = await exec(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' });
  return stdout;
}

/**
 * A local stand-in for node:20-bookworm-slim ("slim") or node:20-bookworm ("build", with the compiler):
 * .ci/base-image.sh, a debootstrap plus this machine's Node 20, cached.
 */
export async function baseImage(variant: 'slim' | 'build'): Promise<string> {
  const out = await command('bash', ['.ci/base-image.sh', variant], 1_200_000);
  const name = out.trim().split('\n').pop();
  if (!name) throw new Error('.ci/base-image.sh printed no image name');
  return name;
}

/**
 * A writable copy of this machine's npm cache, mounted at /root/.npm in the build so `npm ci` runs offline: the
 * tests talk to loopback only. CI fills the cache with its own `npm ci` before the tests.
 */
export async function npmCacheCopy(): Promise<string> {
  const cache = (await command('npm', ['config', 'get', 'cache'])).trim();
  const copy = mkdtempSync(join(tmpdir(), 'mailprobe-npm-cache-'));
  if (existsSync(join(cache, '_cacache'))) cpSync(join(cache, '_cacache'), join(copy, '_cacache'), { recursive: true });
  return copy;
}

export async function imageConfig(image: string): Promise<ImageConfig> {
  const inspected = JSON.parse(await command('buildah', ['inspect', '--type', 'image', image])) as { Docker: { config: ImageConfig } };
  return inspected.Docker.config;
}

/** A working container of the image with its filesystem mounted; remove() unmounts and deletes it. */
export async function mountImage(image: string): Promise<{ root: string; remove(): Promise<void> }> {
  const container = (await command('buildah', ['from', '--pull-never', image])).trim();
  const root = (await command('buildah', ['mount', container])).trim();
  return {
    root,
    remove: async () => {
      await command('buildah', ['umount', container]).catch(() => '');
      await command('buildah', ['rm', container]).catch(() => '');
    },
  };
}

// What a container runtime does, by hand, because podman cannot run here: a private mount namespace, the
// image's root bound read-only (docker run --read-only), /proc, /dev, a tmpfs on /tmp (--tmpfs /tmp), a
// host folder as the state volume, then chroot as the image's user into its working directory with only
// the image's environment. Mounts vanish with the namespace when the process ends.
const RUN_IN_IMAGE = `
set -euo pipefail
root=$1 volume=$2 target=$3 user=$4 workdir=$5
shift 5
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount --bind "$volume" "$root$target"
mount -o remount,bind,ro "$root"
exec chroot --userspec="$user" "$root" /usr/bin/env -i -C "$workdir" "$@"
`;

export interface ImageRun {
  root: string;
  config: ImageConfig;
  /** Host folder mounted at the image's volume. */
  volume: string;
  /** Overrides and additions to the image's Env, as docker run -e does. */
  env?: Record<string, string>;
  /** Replaces the image's Cmd (docker run IMAGE ARGS...). */
  args?: string[];
}

/** Starts Entrypoint + Cmd (or args) inside the image's filesystem; the process is the image's own. */
export function runInImage(run: ImageRun): ChildProcess {
  const volume = Object.keys(run.config.Volumes ?? {})[0];
  if (volume === undefined) throw new Error('the image declares no volume');
  const env = new Map(run.config.Env.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
  for (const [key, value] of Object.entries(run.env ?? {})) env.set(key, value);
  const argv = [...run.config.Entrypoint, ...(run.args ?? run.config.Cmd)];
  return spawn(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      'bash',
      '-c',
      RUN_IN_IMAGE,
      'run-in-image',
      run.root,
      run.volume,
      volume,
      run.config.User,
      run.config.WorkingDir || '/',
      ...[...env].map(([key, value]) => `${key}=${value}`),
      ...argv,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/** Runs a command in the image to its end; resolves with its exit code and output. */
export function runToEnd(run: ImageRun, timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  const child = runInImage(run);
  const chunks: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output: chunks.join('') });
    }),
  );
}
