import { listenProblem } from '../config/listen.js';
import { UsageError } from './io.js';

/** The listener's flags as `run` and `demo` read them, each with where it came from. */
export interface ListenerFlags {
  listen?: string;
  listenFrom?: '--listen' | 'MAILPROBE_LISTEN';
  /** As given (relative to the working directory); the caller resolves it. */
  webConfigFile?: string;
}

/**
 * --listen and --web.config.file, defaulting to MAILPROBE_LISTEN and MAILPROBE_WEB_CONFIG_FILE: an image sets them
 * once for the agent and its HEALTHCHECK (mailprobe healthcheck reads the same). An address that is not one is a
 * usage error naming where it came from.
 */
export function listenerFlags(
  command: string,
  values: { listen?: string | undefined; 'web.config.file'?: string | undefined },
  env: NodeJS.ProcessEnv,
): ListenerFlags {
  const listen = values.listen ?? env.MAILPROBE_LISTEN;
  const listenFrom = values.listen !== undefined ? '--listen' : 'MAILPROBE_LISTEN';
  const issue = listen === undefined ? undefined : listenProblem(listen);
  if (issue) throw new UsageError(`${command}: ${listenFrom} "${listen}": ${issue}`);
  const webConfigFile = values['web.config.file'] ?? env.MAILPROBE_WEB_CONFIG_FILE;
  return { ...(listen !== undefined ? { listen, listenFrom } : {}), ...(webConfigFile !== undefined ? { webConfigFile } : {}) };
}
