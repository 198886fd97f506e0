import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Secret } from '../core/secret.js';
import type { SecretSourceInput } from './secret-source.js';

export type SecretLookup = { ok: true; secret: Secret } | { ok: false; message: string };

// Secrets are read when needed, not at load: a rotated file or env var is picked up on the next token
// request, and a missing one fails only that tenant's checks instead of the whole agent.
export function readSecret(source: SecretSourceInput, baseDir: string, env: NodeJS.ProcessEnv): SecretLookup {
  if (typeof source === 'string') return { ok: true, secret: new Secret(source) };
  if ('env' in source) {
    const value = env[source.env];
    if (!value) return { ok: false, message: `environment variable ${source.env} is not set or empty` };
    return { ok: true, secret: new Secret(value) };
  }
  const path = resolveFrom(baseDir, source.file);
  try {
    const value = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    if (!value) return { ok: false, message: `secret file ${path} is empty` };
    return { ok: true, secret: new Secret(value) };
  } catch (error) {
    return { ok: false, message: `cannot read secret file ${path}: ${errorCode(error)}` };
  }
}

export function resolveFrom(baseDir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path);
}

export function errorCode(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string') return error.code;
  return error instanceof Error ? error.message : String(error);
}
