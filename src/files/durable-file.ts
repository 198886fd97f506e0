import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

/**
 * Replaces `path` with `text` so that a crash or power loss leaves either the old file or the new one, never half
 * of one: a temp file beside it is written and fsynced, renamed over, and the folder fsynced so the rename itself
 * is on disk.
 */
export async function writeFileDurably(path: string, text: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
    await handle.close();
    await rename(temp, path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
  syncFolder(dirname(path));
}

/**
 * Moves an unreadable state file out of the way (`<path>.corrupt-<now>`), kept for a look, so the next save does
 * not silently replace what someone may want back. Returns where it went, or undefined when it could not be moved.
 */
export function moveAside(path: string, now: number): string | undefined {
  const movedTo = `${path}.corrupt-${now}`;
  try {
    renameSync(path, movedTo);
    return movedTo;
  } catch {
    return undefined;
  }
}

/** fsync of a file already written (e.g. one linked into place), then of its folder. */
export function syncFileAndFolder(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  syncFolder(dirname(path));
}

function syncFolder(folder: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(folder, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a folder (EINVAL); the file's own fsync is then all there is.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * A state file's name for one agent: `alert-state.json`, with `.shard-I-of-N` when the monitors are sharded and
 * `.<replica>` when MAILPROBE_REPLICA names this replica, so agents sharing agent.stateDir never share a file.
 */
export function ownedStateFile(folder: string, base: string, owner: { shard?: { index: number; total: number }; replica?: string }): string {
  const dot = base.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [base.slice(0, dot), base.slice(dot)] : [base, ''];
  const shard = owner.shard && owner.shard.total > 1 ? `.shard-${owner.shard.index}-of-${owner.shard.total}` : '';
  const replica = owner.replica ? `.${owner.replica}` : '';
  return join(folder, `${stem}${shard}${replica}${ext}`);
}

export type Claim = { ok: true; release(): void } | { ok: false; heldBy: string };

const HEARTBEAT_MS = 30_000;
/** An owner record not refreshed for this long belongs to an agent that is gone (crashed, or on a dead host). */
const STALE_MS = 3 * HEARTBEAT_MS;

/**
 * Claims `path` for this process through `<path>.owner`, which names the owner and is touched every 30 s. A record
 * that is fresh and not ours means another agent writes the file: the caller must not. The check covers agents on
 * other hosts sharing the folder (NFS, a shared volume), where a pid says nothing.
 */
export function claimStateFile(path: string, now: () => number = Date.now): Claim {
  const ownerFile = `${path}.owner`;
  const me = `${hostname()} pid ${process.pid}`;
  const held = heldBy(ownerFile, now());
  if (held !== undefined && held !== me) return { ok: false, heldBy: held };
  try {
    // 'wx' when there is none, so of two agents starting together only one wins; a stale record is replaced.
    if (held === undefined && !staleOwner(ownerFile, now())) writeFileSync(ownerFile, `${me}\n`, { flag: 'wx', mode: 0o600 });
    else replaceSync(ownerFile, `${me}\n`);
  } catch {
    const winner = heldBy(ownerFile, now());
    if (winner !== undefined && winner !== me) return { ok: false, heldBy: winner };
  }
  // Freshness is judged by the injected clock, so the record is stamped by it too, not by the kernel's.
  const touch = (): void => {
    const at = new Date(now());
    try {
      utimesSync(ownerFile, at, at);
    } catch {
      // Gone (the folder was cleared): the next claim, at restart, writes it again.
    }
  };
  touch();
  const heartbeat = setInterval(touch, HEARTBEAT_MS);
  heartbeat.unref();
  return {
    ok: true,
    release: () => {
      clearInterval(heartbeat);
      if (heldBy(ownerFile, now()) === me) rmSync(ownerFile, { force: true });
    },
  };
}

function heldBy(ownerFile: string, now: number): string | undefined {
  try {
    if (now - statSync(ownerFile).mtimeMs > STALE_MS) return undefined;
    return readFileSync(ownerFile, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function staleOwner(ownerFile: string, now: number): boolean {
  try {
    return now - statSync(ownerFile).mtimeMs > STALE_MS;
  } catch {
    return false;
  }
}

function replaceSync(path: string, text: string): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o600 });
  renameSync(temp, path);
}
