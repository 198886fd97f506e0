import { watch, type FSWatcher } from 'node:fs';
import type { AgentHandle } from './start.js';

/** Resolves after SIGTERM/SIGINT and a graceful stop; SIGHUP and edits of the file reload meanwhile. */
export function untilSignal(handle: AgentHandle, file = handle.agent.config?.file): Promise<void> {
  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  if (file) {
    try {
      // Editors replace files (rename) or write twice; a short debounce turns that into one reload.
      watcher = watch(file, () => {
        clearTimeout(debounce);
        debounce = setTimeout(() => handle.reload(), 300);
      });
    } catch {
      handle.logger.warn('cannot watch the configuration file; reload with SIGHUP', { config: file });
    }
  }
  const onHup = (): void => {
    handle.reload();
  };
  process.on('SIGHUP', onHup);
  return new Promise((resolve) => {
    const onStop = (signal: NodeJS.Signals): void => {
      handle.logger.info('stopping', { signal });
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      process.off('SIGHUP', onHup);
      watcher?.close();
      clearTimeout(debounce);
      void handle.stop().then(resolve);
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
  });
}
