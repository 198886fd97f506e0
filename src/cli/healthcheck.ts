import { existsSync } from 'node:fs';
import { BUILT_IN_DEFAULTS, parseListen } from '../config/defaults.js';
import { configPath, EXIT, loadConfig, parseCommandArgs, print, UsageError, type CliIO } from './io.js';

export const HEALTHCHECK_HELP = `Usage: mailprobe healthcheck [--url URL] [--ready] [--timeout SECONDS] [--config FILE]

Asks the running agent on this host whether it is alive (GET /healthz; --ready: /readyz) and exits 0 when it
answers 200, 1 when it does not (refused, timed out, any other status). For container HEALTHCHECKs, so the
image needs no curl. The address is --url, else MAILPROBE_LISTEN, else agent.listen of the monitors file,
else ${BUILT_IN_DEFAULTS.listen}; a wildcard host (0.0.0.0, ::) is asked on loopback. --url is the agent's
address (http://host:9465, or a prefix behind a reverse proxy); /healthz or /readyz is added unless it ends
in one already.`;

const DEFAULT_TIMEOUT_SECONDS = 5;

export async function healthcheckCommand(args: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs('healthcheck', args, {
    url: { type: 'string' },
    ready: { type: 'boolean' },
    timeout: { type: 'string' },
    config: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    print(io.stdout, HEALTHCHECK_HELP);
    return EXIT.ok;
  }
  const timeoutSeconds = values.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : Number(values.timeout);
  if (!(timeoutSeconds > 0 && timeoutSeconds <= 300)) throw new UsageError('healthcheck: --timeout takes seconds between 0 and 300');
  const url = targetUrl(values, io, values.ready ? 'readyz' : 'healthz');
  try {
    // One request per process: no keep-alive socket to hold the process open after the answer.
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutSeconds * 1000), redirect: 'manual', headers: { connection: 'close' } });
    // The body is a few bytes; reading it lets the socket close at once.
    await response.arrayBuffer();
    if (response.status === 200) {
      print(io.stdout, `mailprobe: healthy (${String(url)} answered 200)`);
      return EXIT.ok;
    }
    print(io.stderr, `mailprobe: unhealthy: ${String(url)} answered ${response.status}`);
  } catch (error) {
    print(io.stderr, `mailprobe: unhealthy: ${String(url)}: ${failure(error, timeoutSeconds)}`);
  }
  return EXIT.checkFailed;
}

const HEALTH_PATHS = ['healthz', 'readyz'] as const;

function targetUrl(values: { url?: string | undefined; config?: string | undefined }, io: CliIO, path: (typeof HEALTH_PATHS)[number]): URL {
  if (values.url !== undefined) return givenUrl(values.url, path);
  const listen = io.env.MAILPROBE_LISTEN;
  const { host, port } = listen !== undefined ? parseListen(listen) : (configuredAddress(values.config, io) ?? parseListen(BUILT_IN_DEFAULTS.listen));
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new UsageError(`healthcheck: MAILPROBE_LISTEN="${listen}" is not a host:port such as 0.0.0.0:9465`);
  const target = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return new URL(`http://${target}:${port}/${path}`);
}

/**
 * --url names the agent, so the probe asked for is added to it; a URL that already ends in a health path is
 * taken as it is, unless it asks the other one than --ready says (a readiness probe that is always green).
 */
function givenUrl(text: string, path: (typeof HEALTH_PATHS)[number]): URL {
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
    throw new UsageError(`healthcheck: --url "${text}" is not a URL such as http://127.0.0.1:9465`);
  }
  const last = url.pathname.split('/').pop() ?? '';
  if (HEALTH_PATHS.some((health) => health === last)) {
    if (last !== path)
      throw new UsageError(
        `healthcheck: --url ends in /${last} but ${path === 'readyz' ? '--ready' : 'no --ready'} asks /${path}: give the agent's address (${url.origin})`,
      );
    return url;
  }
  return new URL(path, url.pathname.endsWith('/') ? url : `${url.href}/`);
}

/** agent.listen of the monitors file, when there is one to read (the demo runs without). */
function configuredAddress(explicit: string | undefined, io: CliIO): { host: string; port: number } | undefined {
  const file = configPath(explicit, io);
  if (explicit === undefined && !existsSync(file)) return undefined;
  return loadConfig(file, io).agent;
}

function failure(error: unknown, timeoutSeconds: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${timeoutSeconds} s`;
  const cause = error instanceof Error ? (error.cause as NodeJS.ErrnoException | undefined) : undefined;
  return cause?.code ?? (error instanceof Error ? error.message : String(error));
}
