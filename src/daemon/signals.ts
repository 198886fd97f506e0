import { watchConfigFile } from '../config/watch.js';
import type { AgentHandle } from './start.js';

/** Resolves after SIGTERM/SIGINT and a graceful stop; SIGHUP and saves of the file (however made) reload meanwhile. */
export function untilSignal(handle: AgentHandle, file = handle.agent.config?.file): Promise<void> {
  const watcher = file ? watchConfigFile(file, () => handle.reload()) : undefined;
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
      void handle.stop().then(resolve);
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
  });
}
