import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/errors.js';
import { errorCode } from '../config/secrets.js';
import type { Logger } from '../log/logger.js';
import { PasswordChecker } from './password-checker.js';
import { loadWebConfig, type ListenerTls, type WebConfig } from './web-config.js';

export interface ListenerSecurityOptions {
  /** Prometheus exporter-toolkit web configuration file (TLS, basic auth, headers, rate limit). */
  webConfigFile?: string;
  /** File of bearer tokens, one a line ('#' starts a comment); any one of them grants access. */
  bearerTokenFile?: string;
  logger: Logger;
  /** Files are re-read at most this often (default 1 s): rotations apply to the next connection after it. */
  recheckMs?: number;
  now?: () => number;
}

/** limited: this source used up its failed logins; it is refused before its password is checked. */
export type Verdict = 'ok' | 'denied' | 'limited' | 'unavailable';

// exporter-toolkit's bcrypt of "fakepassword": an unknown user costs as much time as a known one.
const FAKE_HASH = '$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi';
const CACHE_ENTRIES = 256;

/**
 * Failed logins one source address may make: a burst, then one more every refill period. Past it the source gets
 * 429 without a bcrypt, so guessing costs the agent nothing while Prometheus (which logs in right) is unaffected.
 */
export const FAILED_LOGIN_BUDGET = { burst: 10, refillMs: 6_000 } as const;
// Sources remembered at once; the oldest is forgotten first (a spoofing flood cannot grow the map).
const SOURCES_KEPT = 4096;

/**
 * Who may read the protected routes, and the TLS the listener serves; re-read from the files so certificates,
 * users and tokens rotate without a restart. While a re-read file is invalid the protected routes answer 500
 * (exporter-toolkit fails closed the same way) and the last good certificate keeps serving.
 */
export class ListenerSecurity {
  private web: WebConfig | undefined;
  private tokens: Buffer[] = [];
  private fingerprint = '';
  private checkedAt = Number.NEGATIVE_INFINITY;
  private broken: string | undefined;
  private readonly cache = new Map<string, boolean>();
  private readonly passwords = new PasswordChecker();
  private readonly failures = new Map<string, { tokens: number; at: number }>();
  private bucket: { tokens: number; at: number } | undefined;
  private readonly recheckMs: number;
  private readonly now: () => number;
  /** Called with the new TLS settings after a re-read changed them. */
  onTlsChange: ((tls: ListenerTls) => void) | undefined;

  constructor(private readonly options: ListenerSecurityOptions) {
    this.recheckMs = options.recheckMs ?? 1000;
    this.now = options.now ?? Date.now;
    // At startup a bad file is an error that stops the agent, with the file and the field named.
    const loaded = this.read();
    this.apply(loaded);
    for (const notice of this.web?.notices ?? []) options.logger.warn('web configuration field has no effect', { file: options.webConfigFile, notice });
  }

  /** TLS as configured at startup decides whether the listener speaks HTTPS; only its contents rotate. */
  get tls(): ListenerTls | undefined {
    return this.web?.tls;
  }

  get headers(): Readonly<Record<string, string>> {
    return this.web?.headers ?? {};
  }

  /** True when some credential (password, token or verified client certificate) is demanded. */
  get authenticates(): boolean {
    return (this.web?.users.size ?? 0) > 0 || this.tokens.length > 0 || this.web?.tls?.clientAuth === 'RequireAndVerifyClientCert';
  }

  /** What a 401 offers the client. */
  challenges(): string[] {
    return [...((this.web?.users.size ?? 0) > 0 ? ['Basic'] : []), ...(this.tokens.length > 0 ? ['Bearer'] : [])];
  }

  /** Re-reads the files when the last look is older than recheckMs; cheap when nothing changed. */
  refresh(): void {
    const now = this.now();
    if (now - this.checkedAt < this.recheckMs) return;
    this.checkedAt = now;
    const fingerprint = this.fingerprintOf([
      ...(this.web?.sources ?? (this.options.webConfigFile ? [this.options.webConfigFile] : [])),
      ...(this.options.bearerTokenFile ? [this.options.bearerTokenFile] : []),
    ]);
    if (fingerprint === this.fingerprint) return;
    try {
      const loaded = this.read();
      const hadTls = this.web?.tls !== undefined;
      if ((loaded.web?.tls !== undefined) !== hadTls) {
        throw new ConfigError([
          { file: this.options.webConfigFile ?? '', path: 'tls_server_config', message: `switching TLS ${hadTls ? 'off' : 'on'} needs a restart` },
        ]);
      }
      const tlsChanged = JSON.stringify(loaded.web?.tls) !== JSON.stringify(this.web?.tls);
      this.apply(loaded);
      if (this.broken !== undefined) this.options.logger.info('listener security files valid again', { file: this.options.webConfigFile });
      this.broken = undefined;
      this.options.logger.info('listener security re-read', { file: this.options.webConfigFile, tlsChanged });
      if (tlsChanged && loaded.web?.tls) this.onTlsChange?.(loaded.web.tls);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (message !== this.broken) {
        this.options.logger.error('listener security file invalid; protected paths answer 500 until it is fixed, the last good certificate stays', {
          error: message,
        });
      }
      this.broken = message;
      // Seen once; the next change of any file tries again.
      this.fingerprint = fingerprint;
    }
  }

  /** The verdict for one request's Authorization header on a protected route, from a source address. */
  async authorize(header: string | undefined, source = ''): Promise<Verdict> {
    this.refresh();
    if (this.broken !== undefined) return 'unavailable';
    const users = this.web?.users ?? new Map<string, string>();
    if (users.size === 0 && this.tokens.length === 0) return 'ok';
    if (header === undefined) return 'denied';
    if (!this.hasFailuresLeft(source)) return 'limited';
    const verdict = await this.check(users, header);
    if (verdict === 'denied') this.countFailure(source);
    return verdict;
  }

  /** Stops the password thread. */
  close(): Promise<void> {
    return this.passwords.close();
  }

  private async check(users: ReadonlyMap<string, string>, header: string): Promise<Verdict> {
    const space = header.indexOf(' ');
    const scheme = header.slice(0, space).toLowerCase();
    const value = header.slice(space + 1).trim();
    if (scheme === 'bearer' && this.tokens.length > 0) return this.hasToken(value) ? 'ok' : 'denied';
    if (scheme === 'basic' && users.size > 0) return (await this.checkPassword(users, value)) ? 'ok' : 'denied';
    return 'denied';
  }

  private failureBucket(source: string): { tokens: number; at: number } {
    const now = this.now();
    const bucket = this.failures.get(source) ?? { tokens: FAILED_LOGIN_BUDGET.burst, at: now };
    bucket.tokens = Math.min(FAILED_LOGIN_BUDGET.burst, bucket.tokens + (now - bucket.at) / FAILED_LOGIN_BUDGET.refillMs);
    bucket.at = now;
    return bucket;
  }

  private hasFailuresLeft(source: string): boolean {
    return this.failureBucket(source).tokens >= 1;
  }

  private countFailure(source: string): void {
    const bucket = this.failureBucket(source);
    bucket.tokens -= 1;
    this.failures.delete(source);
    if (this.failures.size >= SOURCES_KEPT) this.failures.delete(this.failures.keys().next().value as string);
    this.failures.set(source, bucket);
  }

  /** exporter-toolkit's rate_limit: a token bucket over the protected routes (health stays answerable). */
  allowRequest(): boolean {
    const limit = this.web?.rateLimit;
    if (!limit) return true;
    const now = this.now();
    const bucket = this.bucket ?? { tokens: limit.burst, at: now };
    bucket.tokens = Math.min(limit.burst, bucket.tokens + (now - bucket.at) / limit.intervalMs);
    bucket.at = now;
    this.bucket = bucket;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  private read(): { web: WebConfig | undefined; tokens: Buffer[]; fingerprint: string } {
    const web = this.options.webConfigFile ? loadWebConfig(this.options.webConfigFile) : undefined;
    const tokens = this.options.bearerTokenFile ? readTokens(this.options.bearerTokenFile) : [];
    const fingerprint = this.fingerprintOf([...(web?.sources ?? []), ...(this.options.bearerTokenFile ? [this.options.bearerTokenFile] : [])]);
    return { web, tokens, fingerprint };
  }

  private apply(loaded: { web: WebConfig | undefined; tokens: Buffer[]; fingerprint: string }): void {
    this.web = loaded.web;
    this.tokens = loaded.tokens;
    this.fingerprint = loaded.fingerprint;
    this.cache.clear();
  }

  private fingerprintOf(files: string[]): string {
    const hash = createHash('sha256');
    for (const file of files) {
      hash.update(file).update('\0');
      try {
        hash.update(readFileSync(file));
      } catch (error) {
        hash.update(`unreadable ${errorCode(error)}`);
      }
      hash.update('\0');
    }
    return hash.digest('hex');
  }

  private hasToken(value: string): boolean {
    const digest = sha256(value);
    // Every stored token is compared, so the time taken does not tell which one came close.
    return this.tokens.reduce((found, token) => timingSafeEqual(token, digest) || found, false);
  }

  private async checkPassword(users: ReadonlyMap<string, string>, encoded: string): Promise<boolean> {
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const stored = users.get(user);
    const hash = stored ?? FAKE_HASH;
    const key = sha256(`${user}\0${hash}\0${password}`).toString('hex');
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached && stored !== undefined;
    const matches = (await this.passwords.compare(password, hash)) && stored !== undefined;
    if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, matches);
    return matches;
  }
}

function readTokens(file: string): Buffer[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([{ file, path: '', message: `cannot read the bearer token file (${errorCode(error)})` }]);
  }
  const tokens = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  if (tokens.length === 0) throw new ConfigError([{ file, path: '', message: 'the bearer token file holds no token' }]);
  return tokens.map(sha256);
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
