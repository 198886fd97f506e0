import { REDACTION_MASK, Secret } from '../core/secret.js';

// Shapes that are secret whatever their value, so text we never registered (a token in a server reply, an
// XOAUTH2 line in a transcript) is still masked. Order matters: whole blocks before the tokens inside them.
const PATTERNS: ReadonlyArray<readonly [RegExp, string]> = [
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g, REDACTION_MASK],
  // The decoded XOAUTH2 form is "user=…\x01auth=Bearer <token>\x01\x01"; everything up to the separator goes.
  [/auth=Bearer[^\x01\r\n]*/gi, `auth=Bearer ${REDACTION_MASK}`],
  [/\bBearer\s+[A-Za-z0-9\-._~+/]+=*/gi, `Bearer ${REDACTION_MASK}`],
  [/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, REDACTION_MASK],
  // An encoded XOAUTH2 response starts with base64("user=…"): "dXNlcj" then 0-3, as the 4th character also
  // carries the top bits of the first character of the user name (only a bare "user=" gives "dXNlcj0=").
  [/dXNlcj[0-3][A-Za-z0-9+/]*={0,2}/g, REDACTION_MASK],
  // Entra's refresh tokens are opaque, not JWTs: "0.A…" / "1.A…" and a long base64url tail (the emulator's keep the shape).
  [/\b[01]\.[A-Za-z0-9_-][A-Za-z0-9._-]{59,}/g, REDACTION_MASK],
  [/\b(client_secret|client_assertion|access_token|refresh_token|id_token)=[^&\s"']*/gi, `$1=${REDACTION_MASK}`],
  [/"(client_secret|client_assertion|access_token|refresh_token|id_token)"(\s*:\s*)"(?:[^"\\]|\\.)*"/gi, `"$1"$2"${REDACTION_MASK}"`],
];

// Object keys whose value is secret whatever it looks like.
const SENSITIVE_KEY = /^(client_?secret|client_?assertion|access_?token|refresh_?token|id_?token|private_?key|password|authorization)$/i;

export class Redactor {
  // Longest first, so a secret that contains another is masked whole rather than leaving a tail.
  #secrets: string[] = [];

  /** Registers a literal value (client secret, private key, token) to mask wherever it appears. */
  addSecret(value: string): void {
    // Very short values would mask ordinary words and tell nobody anything; the patterns still apply.
    if (value.length < 4 || this.#secrets.includes(value)) return;
    this.#secrets.push(value);
    this.#secrets.sort((a, b) => b.length - a.length);
  }

  redact(text: string): string {
    let out = text;
    for (const secret of this.#secrets) {
      if (out.includes(secret)) out = out.split(secret).join(REDACTION_MASK);
    }
    for (const [pattern, replacement] of PATTERNS) {
      out = out.replace(pattern, replacement);
    }
    return out;
  }

  /**
   * Returns a redacted copy safe to serialise: strings masked, Secret instances replaced by the mask, values
   * under sensitive keys masked, and Errors turned into plain records (name, message, stack, own fields) so
   * JSON output keeps them instead of printing {}.
   */
  redactDeep(value: unknown): unknown {
    return this.#walk(value, new WeakSet());
  }

  // `path` holds the objects being walked above this one: a repeat there is a cycle, a repeat elsewhere is
  // just a shared reference and is printed again.
  #walk(value: unknown, path: WeakSet<object>): unknown {
    if (typeof value === 'string') return this.redact(value);
    if (value === null || typeof value !== 'object') return value;
    if (value instanceof Secret) return REDACTION_MASK;
    if (value instanceof Date) return value;
    if (ArrayBuffer.isView(value)) return `[binary ${value.byteLength} bytes]`;
    if (path.has(value)) return '[circular]';
    path.add(value);
    try {
      return this.#walkObject(value, path);
    } finally {
      path.delete(value);
    }
  }

  #walkObject(value: object, path: WeakSet<object>): unknown {
    if (Array.isArray(value)) return value.map((item: unknown) => this.#walk(item, path));
    if (value instanceof Map)
      return this.#walkEntries(
        [...value.entries()].map(([k, v]) => [String(k), v]),
        path,
      );
    if (value instanceof Set) return [...value].map((item: unknown) => this.#walk(item, path));
    if (!(value instanceof Error)) return this.#walkEntries(Object.entries(value), path);
    const record = this.#walkEntries(Object.entries(value), path);
    record['name'] = value.name;
    record['message'] = this.redact(value.message);
    if (value.stack !== undefined) record['stack'] = this.redact(value.stack);
    if (value.cause !== undefined) record['cause'] = this.#walk(value.cause, path);
    return record;
  }

  #walkEntries(entries: Array<[string, unknown]>, path: WeakSet<object>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, item] of entries) {
      out[key] = SENSITIVE_KEY.test(key) && item !== undefined && item !== null ? REDACTION_MASK : this.#walk(item, path);
    }
    return out;
  }
}
