import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError, jsonPath, type ConfigIssue } from '../config/errors.js';
import { errorCode, resolveFrom } from '../config/secrets.js';

// The Prometheus exporter-toolkit web configuration file (docs/web-configuration.md), read as it is so one file
// serves every exporter on a host. Field names, defaults and refusals follow exporter-toolkit's web/tls_config.go;
// where Node cannot do what Go does the field is refused here, by name, instead of being silently ignored.

export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  // exporter-toolkit keeps this spelling for backwards compatibility, as RequireAnyClientCert.
  'RequireClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

const TLS_VERSIONS = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const;
type TlsVersionName = keyof typeof TLS_VERSIONS;

// Go's tls.CipherSuites() names (IANA) for TLS 1.2 and below, with their OpenSSL names. TLS 1.3 suites are listed
// so that a file naming them loads, but, as in Go, they are not configurable and stay at the runtime's defaults.
const CIPHERS: Record<string, string | null> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_AES_128_GCM_SHA256: null,
  TLS_AES_256_GCM_SHA384: null,
  TLS_CHACHA20_POLY1305_SHA256: null,
};

const CURVES = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' } as const;

// exporter-toolkit's extraHTTPHeaders: only these may be set, some only to the listed values.
const HEADERS: Record<string, readonly string[] | null> = {
  'Strict-Transport-Security': null,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': null,
  'Content-Security-Policy': null,
};

// A bcrypt hash as htpasswd -B and Go's bcrypt write it: $2a$, $2b$ or $2y$, a two-digit cost, 53 characters.
const BCRYPT = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

const TlsServerConfig = z
  .object({
    cert: z.string().optional(),
    key: z.string().optional(),
    client_ca: z.string().optional(),
    cert_file: z.string().optional(),
    key_file: z.string().optional(),
    client_auth_type: z.enum(CLIENT_AUTH_TYPES).optional(),
    client_ca_file: z.string().optional(),
    client_allowed_sans: z.array(z.string()).optional(),
    min_version: z.enum(Object.keys(TLS_VERSIONS) as [TlsVersionName, ...TlsVersionName[]]).optional(),
    max_version: z.enum(Object.keys(TLS_VERSIONS) as [TlsVersionName, ...TlsVersionName[]]).optional(),
    cipher_suites: z.array(z.string()).optional(),
    prefer_server_cipher_suites: z.boolean().optional(),
    curve_preferences: z.array(z.enum(Object.keys(CURVES) as [keyof typeof CURVES])).optional(),
  })
  .strict();

const WebConfigFile = z
  .object({
    tls_server_config: TlsServerConfig.nullish(),
    http_server_config: z
      .object({
        http2: z.boolean().optional(),
        headers: z.record(z.string(), z.string()).nullish(),
      })
      .strict()
      .nullish(),
    basic_auth_users: z.record(z.string(), z.string()).nullish(),
    rate_limit: z
      .object({ interval: z.union([z.string(), z.number()]).optional(), burst: z.number().int().min(0).optional() })
      .strict()
      .nullish(),
  })
  .strict();

export interface ListenerTls {
  /** For tls.createServer and setSecureContext; re-built from the files on every change. */
  context: SecureContextOptions;
  clientAuth: Exclude<ClientAuthType, 'RequireClientCert'>;
  /** When set, a client certificate must carry one of these SANs (DNS, IP, e-mail or URI). */
  allowedSans?: string[];
}

export interface WebConfig {
  file: string;
  tls?: ListenerTls;
  /** User name → bcrypt hash. Empty: no basic authentication. */
  users: ReadonlyMap<string, string>;
  /** Extra response headers, as exporter-toolkit allows them. */
  headers: Readonly<Record<string, string>>;
  /** Token bucket: one request per intervalMs, bursts of `burst`. Absent: no limit. */
  rateLimit?: { intervalMs: number; burst: number };
  /** The files that went into this config, so a change to any of them (a rotated certificate) is seen. */
  sources: string[];
  /** Fields accepted but without effect here, for one startup notice. */
  notices: string[];
}

/** Reads and checks the file and every file it names; throws ConfigError naming the file and field. */
export function loadWebConfig(file: string): WebConfig {
  const text = readOrFail(file, file, '');
  return parseWebConfig(text, file);
}

export function parseWebConfig(text: string, file: string): WebConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text, { uniqueKeys: true, prettyErrors: false });
  } catch (error) {
    fail(file, '', `not valid YAML: ${error instanceof Error ? error.message.split('\n', 1)[0] : String(error)}`);
  }
  const parsed = WebConfigFile.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue): ConfigIssue => ({
        file,
        path: jsonPath(issue.path),
        message:
          issue.code === 'unrecognized_keys'
            ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`
            : issue.message.replace(/^Invalid (input|option): /, ''),
      })),
    );
  }
  const input = parsed.data;
  const baseDir = dirname(file);
  const sources = [file];
  const notices: string[] = [];

  const users = new Map<string, string>();
  for (const [user, hash] of Object.entries(input.basic_auth_users ?? {})) {
    if (!BCRYPT.test(hash)) fail(file, `basic_auth_users.${user}`, 'not a bcrypt hash (make one with: htpasswd -nBC 10 "" | tr -d \':\\n\')');
    users.set(user, hash);
  }

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.http_server_config?.headers ?? {})) {
    const allowed = HEADERS[name];
    if (allowed === undefined)
      fail(file, `http_server_config.headers.${name}`, `HTTP header "${name}" can not be configured (allowed: ${Object.keys(HEADERS).join(', ')})`);
    if (allowed !== null && !allowed.includes(value))
      fail(file, `http_server_config.headers.${name}`, `expected one of ${allowed.map((v) => `"${v}"`).join(', ')}, got "${value}"`);
    // Node refuses such a value on every response, so one newline in the file made every route (health too) a 500.
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value))
      fail(file, `http_server_config.headers.${name}`, 'a header value cannot contain a line break or other control character');
    if (value !== '') headers[name] = value;
  }
  if (input.http_server_config?.http2 === true) notices.push('http_server_config.http2: this listener serves HTTP/1.1 only; Prometheus falls back to it');

  const rateLimit = readRateLimit(input.rate_limit, file);
  const tls = input.tls_server_config ? readTls(input.tls_server_config, file, baseDir, sources) : undefined;
  return { file, ...(tls ? { tls } : {}), users, headers, ...(rateLimit ? { rateLimit } : {}), sources, notices };
}

type TlsInput = z.infer<typeof TlsServerConfig>;

function readTls(input: TlsInput, file: string, baseDir: string, sources: string[]): ListenerTls | undefined {
  const enabled = [input.cert, input.key, input.cert_file, input.key_file, input.client_ca, input.client_ca_file, input.client_auth_type].some(
    (value) => value !== undefined && value !== '',
  );
  if (!enabled) return undefined;
  const at = 'tls_server_config';
  // As in Go: a file path wins over the inline PEM when both are given.
  const pem = (inline: string | undefined, path: string | undefined, field: string, missing: string): string | undefined => {
    if (path) {
      const resolved = resolveFrom(baseDir, path);
      sources.push(resolved);
      return readOrFail(resolved, file, `${at}.${field}`);
    }
    if (inline) return inline;
    if (missing) fail(file, at, missing);
    return undefined;
  };
  const cert = pem(input.cert, input.cert_file, 'cert_file', 'missing one of cert or cert_file');
  const key = pem(input.key, input.key_file, 'key_file', 'missing one of key or key_file');
  const ca = pem(input.client_ca, input.client_ca_file, 'client_ca_file', '');
  const requested = input.client_auth_type ?? 'NoClientCert';
  const clientAuth = requested === 'RequireClientCert' ? 'RequireAnyClientCert' : requested;
  if (ca !== undefined && clientAuth === 'NoClientCert') fail(file, `${at}.client_auth_type`, "client CA's have been configured without a Client Auth Policy");

  const min = TLS_VERSIONS[input.min_version ?? 'TLS12'];
  const max = TLS_VERSIONS[input.max_version ?? 'TLS13'];
  if (min > max) fail(file, `${at}.min_version`, `${input.min_version} is above max_version ${input.max_version ?? 'TLS13'}`);

  const ciphers: string[] = [];
  for (const [index, name] of (input.cipher_suites ?? []).entries()) {
    const openssl = CIPHERS[name];
    if (openssl === undefined) fail(file, `${at}.cipher_suites[${index}]`, `unknown cipher: ${name}`);
    if (openssl !== null) ciphers.push(openssl);
  }
  const curves = (input.curve_preferences ?? []).map((name) => CURVES[name]);

  const context: SecureContextOptions = {
    cert,
    key,
    minVersion: min,
    maxVersion: max,
    honorCipherOrder: input.prefer_server_cipher_suites ?? true,
    ...(ca !== undefined ? { ca } : {}),
    ...(ciphers.length > 0 ? { ciphers: ciphers.join(':') } : {}),
    ...(curves.length > 0 ? { ecdhCurve: curves.join(':') } : {}),
  };
  try {
    // Surfaces a key that does not match its certificate, or unusable PEM, at load rather than at the first client.
    createSecureContext(context);
  } catch (error) {
    fail(file, at, `the certificate, key or client CA cannot be used: ${error instanceof Error ? error.message : String(error)}`);
  }
  // A name in a certificate nobody verified is whatever its maker wrote: matching it would let anyone in.
  if (input.client_allowed_sans && clientAuth !== 'RequireAndVerifyClientCert' && clientAuth !== 'VerifyClientCertIfGiven') {
    fail(file, `${at}.client_allowed_sans`, `needs a verified client certificate: set client_auth_type to RequireAndVerifyClientCert (it is ${clientAuth})`);
  }
  return { context, clientAuth, ...(input.client_allowed_sans ? { allowedSans: input.client_allowed_sans } : {}) };
}

function readRateLimit(input: { interval?: string | number | undefined; burst?: number | undefined } | null | undefined, file: string) {
  if (!input || input.interval === undefined) return undefined;
  const intervalMs = typeof input.interval === 'number' ? input.interval / 1e6 : goDurationMs(input.interval);
  if (intervalMs === undefined) fail(file, 'rate_limit.interval', `"${input.interval}" is not a duration such as 1s or 500ms`);
  if (intervalMs === 0) return undefined;
  return { intervalMs, burst: input.burst ?? 0 };
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration for the non-negative values a rate limit takes ("1s", "1m30s", "0"). */
export function goDurationMs(text: string): number | undefined {
  if (text === '0') return 0;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== text) return undefined;
  return parts.reduce((sum, part) => sum + Number(part[1]) * (UNIT_MS[part[2] ?? ''] ?? 0), 0);
}

function readOrFail(path: string, file: string, field: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    fail(file, field, `cannot read ${path} (${errorCode(error)})`);
  }
}

function fail(file: string, path: string, message: string): never {
  throw new ConfigError([{ file, path, message }]);
}
