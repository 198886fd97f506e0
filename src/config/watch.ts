import { realpathSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';

export interface ConfigWatcher {
  close(): void;
}

export interface WatchOptions {
  /** Quiet time after the last event before the file is looked at (editors write in several steps). */
  debounceMs?: number;
  /** A stat of the file this often as well, for file systems that send no events (NFS, some container mounts). */
  pollMs?: number;
}

/**
 * Calls onChange when the file at `file` changes, however it is changed: written in place, replaced by rename
 * (vim, `sed -i`, config management), or swapped under a symlink (a Kubernetes ConfigMap renames its `..data`
 * link). Watching the file itself would follow the first inode only; the folders are watched instead, the
 * path resolved again after every event, and the file's identity (target, inode, size, mtime) compared.
 */
export function watchConfigFile(file: string, onChange: () => void, options: WatchOptions = {}): ConfigWatcher {
  const path = resolve(file);
  const debounceMs = options.debounceMs ?? 300;
  const watchers = new Map<string, FSWatcher>();
  let last = identity(path);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const look = (): void => {
    if (closed) return;
    rewatch();
    const now = identity(path);
    if (now === last) return;
    last = now;
    // A file that vanished mid-swap is not a change to act on; its reappearance will be.
    if (now !== undefined) onChange();
  };
  const soon = (): void => {
    clearTimeout(timer);
    timer = setTimeout(look, debounceMs);
  };
  // The folder of the path, and of its resolved target when that lies elsewhere (a symlink to another folder).
  const rewatch = (): void => {
    const folders = new Set([dirname(path)]);
    try {
      folders.add(dirname(realpathSync(path)));
    } catch {
      // Missing for a moment during a swap; the path's own folder is still watched.
    }
    for (const [folder, watcher] of watchers) {
      if (folders.has(folder)) continue;
      watcher.close();
      watchers.delete(folder);
    }
    for (const folder of folders) {
      if (watchers.has(folder)) continue;
      try {
        const watcher = watch(folder, { persistent: false }, soon);
        watcher.on('error', () => {
          watcher.close();
          watchers.delete(folder);
        });
        watchers.set(folder, watcher);
      } catch {
        // Unwatchable (permissions, inotify limit): the poll below still sees changes.
      }
    }
  };
  rewatch();
  const poll = setInterval(look, options.pollMs ?? 5_000);
  poll.unref();

  return {
    close: () => {
      closed = true;
      clearTimeout(timer);
      clearInterval(poll);
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}

function identity(path: string): string | undefined {
  try {
    const target = realpathSync(path);
    const stat = statSync(target);
    return `${target}\0${stat.ino}\0${stat.size}\0${stat.mtimeMs}`;
  } catch {
    return undefined;
  }
}
