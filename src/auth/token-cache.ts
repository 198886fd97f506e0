import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorCode } from '../config/secrets.js';
import type { CacheOwner } from '../config/token-cache-path.js';
import { Secret } from '../core/secret.js';
import { isRecord } from '../core/unknown.js';
import { readFileBounded } from '../files/bounded-read.js';
import { writeFileDurably } from '../files/durable-file.js';

// A delegated monitor's sign-in, kept between runs: the refresh token (rotated at every redemption) and the
// times its lapse is computed from. Encrypted at rest with AES-256-GCM under a key the admin controls; the
// additional data binds a file to its tenant, app and account, so a file copied over another's fails to open.

/** The environment variable that gives the cache key (32 bytes, base64), winning over the key file. */
export const TOKEN_CACHE_KEY_ENV = 'MAILPROBE_TOKEN_CACHE_KEY';

const KEY_BYTES = 32;
const IV_BYTES = 12;
// A cache entry is a few kilobytes (an Entra refresh token is ~1-2 KB); anything far larger is not ours.
const MAX_FILE_BYTES = 256 * 1024;
const FORMAT = 'mailprobe-token-cache/1';

export interface DelegatedEntry {
  account: string;
  /** The delegated scopes the sign-in was asked for (with offline_access), asked again at every refresh. */
  scopes: string[];
  refreshToken: Secret;
  /** When the person signed in (device code): sign-in frequency and revocation count from here. */
  signedInAt: number;
  /** When the refresh token in this entry was issued: 90 days unused from here, it lapses. */
  refreshedAt: number;
  /** The latest access token and its expiry, so replicas and restarts reuse it instead of redeeming again. */
  accessToken?: Secret;
  accessTokenExpiresAt?: number;
  /** A Conditional Access sign-in frequency learned from AADSTS70043, in seconds. */
  signInFrequencySeconds?: number;
}

export type CacheRead =
  { ok: true; entry: DelegatedEntry } | { ok: false; problem: 'missing' | 'unreadable' | 'corrupt' | 'undecryptable' | 'no_key'; message: string };

export type KeyRead = { ok: true; key: Secret; source: string } | { ok: false; message: string };

/**
 * The cache key: MAILPROBE_TOKEN_CACHE_KEY when set, else the key file. `create` (only `mailprobe login` asks
 * for it) makes a missing key file, 0600; the agent never creates one, as a new key opens no existing cache.
 * Messages name the file or the variable, never the key.
 */
export function readCacheKey(keyFile: string, env: NodeJS.ProcessEnv, options: { create?: boolean } = {}): KeyRead {
  const fromEnv = env[TOKEN_CACHE_KEY_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    const key = decodeKey(fromEnv.trim());
    return key ? { ok: true, key, source: TOKEN_CACHE_KEY_ENV } : { ok: false, message: `${TOKEN_CACHE_KEY_ENV} is not ${KEY_BYTES} bytes in base64` };
  }
  let text: string;
  try {
    text = readFileBounded(keyFile, 1024);
  } catch (error) {
    const code = errorCode(error);
    if (code !== 'ENOENT') return { ok: false, message: `cannot read the token cache key ${keyFile} (${code})` };
    if (!options.create) return { ok: false, message: `no token cache key at ${keyFile} (nor ${TOKEN_CACHE_KEY_ENV}); \`mailprobe login\` creates it` };
    return createKeyFile(keyFile);
  }
  const key = decodeKey(text.trim());
  return key ? { ok: true, key, source: keyFile } : { ok: false, message: `the token cache key ${keyFile} is not ${KEY_BYTES} bytes in base64` };
}

function createKeyFile(keyFile: string): KeyRead {
  const key = randomBytes(KEY_BYTES).toString('base64');
  try {
    mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
    // 'wx': two logins at once keep the first key rather than each encrypting under its own.
    writeFileSync(keyFile, `${key}\n`, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return readCacheKey(keyFile, {}, {});
    return { ok: false, message: `cannot create the token cache key ${keyFile} (${errorCode(error)})` };
  }
  return { ok: true, key: new Secret(key), source: keyFile };
}

function decodeKey(text: string): Secret | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  return Buffer.from(text, 'base64').length === KEY_BYTES ? new Secret(text) : undefined;
}

export function readCache(file: string, key: KeyRead, owner: CacheOwner): CacheRead {
  let text: string;
  try {
    text = readFileBounded(file, MAX_FILE_BYTES);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT') return { ok: false, problem: 'missing', message: `${owner.account} has not signed in yet (no ${file})` };
    return { ok: false, problem: 'unreadable', message: `cannot read the token cache ${file} (${code})` };
  }
  if (!key.ok) return { ok: false, problem: 'no_key', message: key.message };
  const sealed = parseSealed(text);
  if (!sealed) return { ok: false, problem: 'corrupt', message: `the token cache ${file} is not a mailprobe token cache (damaged or truncated)` };
  let plain: string;
  try {
    const decipher = createDecipheriv('aes-256-gcm', Buffer.from(key.key.reveal(), 'base64'), sealed.iv);
    decipher.setAAD(Buffer.from(ownerText(owner)));
    decipher.setAuthTag(sealed.tag);
    plain = Buffer.concat([decipher.update(sealed.data), decipher.final()]).toString('utf8');
  } catch {
    return {
      ok: false,
      problem: 'undecryptable',
      message: `the token cache ${file} does not open with the key from ${key.source}: another key, or a file of another account or app`,
    };
  }
  const entry = parseEntry(plain);
  return entry ? { ok: true, entry } : { ok: false, problem: 'corrupt', message: `the token cache ${file} decrypts to no sign-in record` };
}

/** Encrypts and writes the entry atomically (temp file 0600, fsync, rename), so a crash leaves the old or the new. */
export async function writeCache(file: string, key: Secret, owner: CacheOwner, entry: DelegatedEntry): Promise<void> {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(key.reveal(), 'base64'), iv);
  cipher.setAAD(Buffer.from(ownerText(owner)));
  const plain = JSON.stringify({
    ...entry,
    refreshToken: entry.refreshToken.reveal(),
    ...(entry.accessToken ? { accessToken: entry.accessToken.reveal() } : {}),
  });
  const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  const sealed = { format: FORMAT, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
  await writeFileDurably(file, `${JSON.stringify(sealed)}\n`);
}

const LOCK_STALE_MS = 60_000;
const LOCK_WAIT_MS = 30_000;
const LOCK_POLL_MS = 50;

/**
 * Runs `work` holding `<file>.lock`, which agents sharing the state folder (replicas, a `mailprobe login` while
 * the agent runs) respect: a refresh reads the cache, redeems and writes the rotated token back inside it, so no
 * two redeem the same token and none writes an older one over a newer. A lock older than a minute belongs to a
 * process that died holding it.
 */
export async function withCacheLock<T>(file: string, work: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  mkdirSync(dirname(lock), { recursive: true, mode: 0o700 });
  const started = Date.now();
  for (;;) {
    try {
      writeFileSync(lock, `${process.pid} ${Date.now()}\n`, { flag: 'wx', mode: 0o600 });
      break;
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
      if (lockAge(lock) > LOCK_STALE_MS) rmSync(lock, { force: true });
      else if (Date.now() - started > LOCK_WAIT_MS) throw new Error(`the token cache lock ${lock} is held by another process`);
      else await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lock, { force: true });
  }
}

// The age comes from the time the holder wrote into the lock, on the same clock as now: a file's mtime is the
// kernel's clock, which a shifted process clock (faketime) does not share, so every lock looked stale under it.
function lockAge(lock: string): number {
  try {
    // No time yet: the holder has created the file and is writing it.
    const at = Number(readFileSync(lock, 'utf8').trim().split(' ')[1]);
    return Number.isFinite(at) ? Date.now() - at : 0;
  } catch {
    return 0;
  }
}

function ownerText(owner: CacheOwner): string {
  return `${FORMAT}\n${owner.tenantId.toLowerCase()}\n${owner.clientId.toLowerCase()}\n${owner.account.toLowerCase()}`;
}

function parseSealed(text: string): { iv: Buffer; tag: Buffer; data: Buffer } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(value) || value.format !== FORMAT) return undefined;
  const { iv, tag, data } = value;
  if (typeof iv !== 'string' || typeof tag !== 'string' || typeof data !== 'string') return undefined;
  const parts = { iv: Buffer.from(iv, 'base64'), tag: Buffer.from(tag, 'base64'), data: Buffer.from(data, 'base64') };
  return parts.iv.length === IV_BYTES && parts.tag.length === 16 ? parts : undefined;
}

function parseEntry(text: string): DelegatedEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(value) || Array.isArray(value)) return undefined;
  const { account, scopes, refreshToken, signedInAt, refreshedAt, accessToken, accessTokenExpiresAt, signInFrequencySeconds } = value;
  if (typeof account !== 'string' || typeof refreshToken !== 'string' || !Array.isArray(scopes)) return undefined;
  if (typeof signedInAt !== 'number' || typeof refreshedAt !== 'number') return undefined;
  return {
    account,
    scopes: scopes.filter((scope): scope is string => typeof scope === 'string'),
    refreshToken: new Secret(refreshToken),
    signedInAt,
    refreshedAt,
    ...(typeof accessToken === 'string' && typeof accessTokenExpiresAt === 'number' ? { accessToken: new Secret(accessToken), accessTokenExpiresAt } : {}),
    ...(typeof signInFrequencySeconds === 'number' ? { signInFrequencySeconds } : {}),
  };
}
