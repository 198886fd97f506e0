import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { resolve } from 'node:path';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { BUILT_IN_DEFAULTS, parseListen } from '../config/defaults.js';
import { errorCode } from '../config/secrets.js';
import type { AgentSettings } from '../config/types.js';
import { loadWebConfig } from '../http/web-config.js';
import { configPath, EXIT, loadConfig, print, UsageError, type CliIO, defineCommand, type CommandInput, type Options } from './io.js';

export const HEALTHCHECK_HELP = `Usage: mailprobe healthcheck [--url URL] [--ready] [--timeout SECONDS] [--config FILE]
                             [--web.config.file FILE] [--ca FILE] [--cert FILE --key FILE]

Asks the running agent on this host whether it is alive (GET /healthz; --ready: /readyz) and exits 0 when it
answers 200, 1 when it does not (refused, timed out, any other status). For container HEALTHCHECKs, so the
image needs no curl. The address is --url, else MAILPROBE_LISTEN, else agent.listen of the monitors file,
else ${BUILT_IN_DEFAULTS.listen}; a wildcard host (0.0.0.0, ::) is asked on loopback. --url is the agent's
address (http://host:9465, or a prefix behind a reverse proxy); /healthz or /readyz is added unless it ends
in one already. It follows the listener's web configuration (--web.config.file, else
MAILPROBE_WEB_CONFIG_FILE, else agent.webConfigFile): with tls_server_config it speaks https and accepts
exactly the certificate in cert_file, whatever names it holds. /healthz and /readyz need no password or
token; a listener that requires client certificates gets --cert and --key. --ca verifies an https --url
against that CA file instead of the system's.`;

const DEFAULT_TIMEOUT_SECONDS = 5;

/** How to speak TLS to the agent: pinned to the listener's own certificate, or verified against a CA. */
interface TlsAsk {
  pinned?: X509Certificate;
  ca?: string;
  cert?: string;
  key?: string;
}

const HEALTHCHECK_OPTIONS = {
  url: { type: 'string' },
  ready: { type: 'boolean' },
  timeout: { type: 'string' },
  config: { type: 'string' },
  'web.config.file': { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
} satisfies Options;

export const healthcheckCommand = defineCommand({ name: 'healthcheck', help: HEALTHCHECK_HELP, options: HEALTHCHECK_OPTIONS, run: healthcheck });

async function healthcheck({ values, io }: CommandInput<typeof HEALTHCHECK_OPTIONS>): Promise<number> {
  const timeoutSeconds = values.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : Number(values.timeout);
  if (!(timeoutSeconds > 0 && timeoutSeconds <= 300)) throw new UsageError('healthcheck: --timeout takes seconds between 0 and 300');
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError('healthcheck: --cert and --key go together');
  // --url names the agent and its scheme; otherwise the agent's own settings say where and how to ask.
  const agent = values.url === undefined ? configuredAgent(values.config, io) : undefined;
  const webConfigFile =
    values['web.config.file'] !== undefined ? resolve(io.cwd, values['web.config.file']) : (io.env.MAILPROBE_WEB_CONFIG_FILE ?? agent?.webConfigFile);
  const listenerTls = webConfigFile === undefined || values.url !== undefined ? undefined : loadWebConfig(webConfigFile).tls;
  const url = targetUrl(values, io, values.ready ? 'readyz' : 'healthz', agent, listenerTls !== undefined);
  const tls: TlsAsk = {
    ...(listenerTls ? { pinned: new X509Certificate(pemOf(listenerTls.context.cert)) } : {}),
    ...(values.ca !== undefined ? { ca: readOption(values.ca, '--ca', io) } : {}),
    ...(values.cert !== undefined && values.key !== undefined ? { cert: readOption(values.cert, '--cert', io), key: readOption(values.key, '--key', io) } : {}),
  };
  try {
    const status = await ask(url, timeoutSeconds * 1000, tls);
    if (status === 200) {
      print(io.stdout, `mailprobe: healthy (${String(url)} answered 200)`);
      return EXIT.ok;
    }
    print(io.stderr, `mailprobe: unhealthy: ${String(url)} answered ${status}`);
  } catch (error) {
    print(io.stderr, `mailprobe: unhealthy: ${String(url)}: ${failure(error, timeoutSeconds)}`);
  }
  return EXIT.checkFailed;
}

/** One GET with the connection closed after it, so no keep-alive socket holds the process open. */
function ask(url: URL, timeoutMs: number, tls: TlsAsk): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const options = { agent: false as const, headers: { connection: 'close' }, signal: AbortSignal.timeout(timeoutMs) };
    const onResponse = (res: IncomingMessage): void => {
      // The agent asked on loopback is trusted for being the certificate its web config names, not for its names.
      if (tls.pinned && !(res.socket as TLSSocket).getPeerX509Certificate()?.raw.equals(tls.pinned.raw)) {
        res.destroy();
        reject(new Error('the listener presented a certificate other than cert_file of the web configuration'));
        return;
      }
      res.resume();
      res.on('end', () => resolvePromise(res.statusCode ?? 0));
      res.on('error', reject);
    };
    const req =
      url.protocol === 'https:'
        ? httpsRequest(
            url,
            {
              ...options,
              ...(tls.pinned ? { rejectUnauthorized: false } : {}),
              ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
              ...(tls.cert !== undefined && tls.key !== undefined ? { cert: tls.cert, key: tls.key } : {}),
            },
            onResponse,
          )
        : httpRequest(url, options, onResponse);
    req.on('error', reject);
    req.end();
  });
}

function pemOf(cert: SecureContextOptions['cert']): string | Buffer {
  const first = Array.isArray(cert) ? cert[0] : cert;
  if (first === undefined) throw new UsageError('healthcheck: the web configuration holds no server certificate');
  return first;
}

function readOption(path: string, flag: string, io: CliIO): string {
  try {
    return readFileSync(resolve(io.cwd, path), 'utf8');
  } catch (error) {
    throw new UsageError(`healthcheck: ${flag} ${path}: cannot read it (${errorCode(error)})`);
  }
}

const HEALTH_PATHS = ['healthz', 'readyz'] as const;

function targetUrl(
  values: { url?: string | undefined },
  io: CliIO,
  path: (typeof HEALTH_PATHS)[number],
  agent: AgentSettings | undefined,
  https: boolean,
): URL {
  if (values.url !== undefined) return givenUrl(values.url, path);
  const listen = io.env.MAILPROBE_LISTEN;
  const { host, port } = listen !== undefined ? parseListen(listen) : (agent ?? parseListen(BUILT_IN_DEFAULTS.listen));
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new UsageError(`healthcheck: MAILPROBE_LISTEN="${listen}" is not a host:port such as 0.0.0.0:9465`);
  const target = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return new URL(`${https ? 'https' : 'http'}://${target}:${port}/${path}`);
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

/** The agent section of the monitors file (listen, webConfigFile), when there is one to read (the demo runs without). */
function configuredAgent(explicit: string | undefined, io: CliIO): AgentSettings | undefined {
  const file = configPath(explicit, io);
  if (explicit === undefined && !existsSync(file)) return undefined;
  return loadConfig(file, io).agent;
}

function failure(error: unknown, timeoutSeconds: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${timeoutSeconds} s`;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && code !== 'ABORT_ERR' ? code : error instanceof Error ? error.message : String(error);
}
