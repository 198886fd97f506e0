import { BlockList, isIP } from 'node:net';

// Which outbound proxy, if any, carries a connection. Conventions as curl and Node (undici's EnvHttpProxyAgent):
// https_proxy for https:// targets, http_proxy for http:// ones, all_proxy for everything else (the mail protocols)
// and as the fallback; the lower-case name wins over the upper-case one; no_proxy lists hosts that go direct. A
// setting in monitors.json wins over the environment, and "direct" there ignores the environment.

/** What a connection is for: the scheme picks the environment variable. */
export interface ProxyTarget {
  scheme: 'https' | 'http' | 'mail';
  host: string;
  port: number;
}

/** A proxy to use: an http:// proxy, spoken to with CONNECT (or absolute-form requests for http:// targets). */
export interface ProxyRoute {
  host: string;
  port: number;
  /** `Basic …` from the URL's user info; a secret, never logged or shown. */
  authorization?: string;
  /** The proxy as it may be shown: scheme, host and port, never the user info. */
  display: string;
  /** Where the setting came from: "config" or the environment variable's name. */
  source: string;
}

export type ProxyDecision =
  | { kind: 'direct'; why: string }
  | { kind: 'proxy'; route: ProxyRoute }
  /** The setting is unusable; the message names where it came from and never quotes it (it may hold a password). */
  | { kind: 'invalid'; message: string };

/** Explicit "no proxy" in monitors.json, whatever the environment says. */
export const DIRECT = 'direct';

// curl's default proxy port when the URL names none.
const DEFAULT_PROXY_PORT = 1080;

const ENV_NAMES: Record<ProxyTarget['scheme'], readonly string[]> = {
  https: ['https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'],
  http: ['http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY'],
  mail: ['all_proxy', 'ALL_PROXY'],
};

/** The route for one connection: `setting` is the config's (a URL or "direct"), else the environment decides. */
export function decideProxy(target: ProxyTarget, setting: string | undefined, env: NodeJS.ProcessEnv): ProxyDecision {
  if (setting === DIRECT) return { kind: 'direct', why: 'proxy "direct" in the configuration' };
  if (setting !== undefined) return parse(setting, 'config');
  const name = ENV_NAMES[target.scheme].find((candidate) => (env[candidate] ?? '') !== '');
  if (name === undefined) return { kind: 'direct', why: 'no proxy configured' };
  const noProxy = env.no_proxy ?? env.NO_PROXY ?? '';
  if (matchesNoProxy(noProxy, target.host, target.port))
    return { kind: 'direct', why: `${env.no_proxy !== undefined ? 'no_proxy' : 'NO_PROXY'} matches ${target.host}` };
  return parse(env[name] ?? '', name);
}

/** Why a proxy setting is unusable, or undefined when it is fine: for the config schema's check. */
export function proxySettingProblem(setting: string): string | undefined {
  if (setting === DIRECT) return undefined;
  const decision = parse(setting, 'proxy');
  return decision.kind === 'invalid' ? decision.message : undefined;
}

function parse(text: string, source: string): ProxyDecision {
  let url: URL;
  try {
    // A bare host:port, as many environments write it, means http:// as for curl.
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    return { kind: 'invalid', message: `${source} is not a proxy URL (expected http://[user:password@]host:port)` };
  }
  if (url.protocol !== 'http:') {
    return { kind: 'invalid', message: `${source} uses ${url.protocol.slice(0, 20)}//; mailprobe speaks to a proxy over http:// (HTTP CONNECT) only` };
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    return { kind: 'invalid', message: `${source} has a path or query; a proxy URL is http://[user:password@]host:port` };
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? DEFAULT_PROXY_PORT : Number(url.port);
  const route: ProxyRoute = { host, port, display: `http://${url.host}${url.port === '' ? `:${port}` : ''}`, source };
  if (url.username !== '' || url.password !== '') {
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    route.authorization = `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
  }
  return { kind: 'proxy', route };
}

/**
 * curl's no_proxy: entries separated by commas or spaces; `*` alone matches every host; a name matches itself and
 * its subdomains (a leading dot changes nothing); an IP address matches itself, a CIDR block its addresses; an
 * entry with `:port` matches that port only. Case does not matter.
 */
export function matchesNoProxy(noProxy: string, host: string, port: number): boolean {
  const target = host
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    const { name, entryPort } = splitPort(entry);
    if (entryPort !== undefined && entryPort !== port) continue;
    if (matchesAddress(name, target)) return true;
    const domain = name.replace(/^\*?\./, '').replace(/\.$/, '');
    if (domain !== '' && isIP(target) === 0 && (target === domain || target.endsWith(`.${domain}`))) return true;
  }
  return false;
}

function splitPort(entry: string): { name: string; entryPort?: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { name: bracketed[1] ?? '', ...(bracketed[2] ? { entryPort: Number(bracketed[2]) } : {}) };
  // An IPv6 address without brackets has several colons and no port.
  const colon = entry.lastIndexOf(':');
  if (colon < 0 || entry.indexOf(':') !== colon) return { name: entry };
  const after = entry.slice(colon + 1);
  return /^\d+$/.test(after) ? { name: entry.slice(0, colon), entryPort: Number(after) } : { name: entry };
}

function matchesAddress(entry: string, target: string): boolean {
  const family = isIP(target);
  if (family === 0) return false;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  const slash = entry.indexOf('/');
  const address = slash < 0 ? entry : entry.slice(0, slash);
  if (isIP(address) !== family) return false;
  const list = new BlockList();
  if (slash < 0) list.addAddress(address, type);
  else {
    const prefix = Number(entry.slice(slash + 1));
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) return false;
    list.addSubnet(address, prefix, type);
  }
  return list.check(target, type);
}

/** One line for doctor and logs: which proxy carries a host, or why none does. Never the user info. */
export function describeDecision(decision: ProxyDecision): string {
  if (decision.kind === 'proxy') return `through ${decision.route.display} (${decision.route.source})`;
  if (decision.kind === 'direct') return `direct (${decision.why})`;
  return `not connected: ${decision.message}`;
}
