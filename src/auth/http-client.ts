import { rootCertificates } from 'node:tls';
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import { decideHttpProxy, httpRoute } from '../net/http.js';

export interface AuthorityExchange {
  url: string;
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON body, or undefined when the body was not JSON (e.g. a 429 "Too Many Requests"). */
  body: unknown;
}

export interface AuthorityHttpOptions {
  ca?: string[];
  rejectUnauthorized: boolean;
  timeoutMs: number;
  /** The tenant's outbound proxy setting (a URL or "direct"); absent: https_proxy, all_proxy and no_proxy decide. */
  proxy?: string;
  /** Where the proxy variables are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Sees every answer before msal does, so failures are classified on Entra's own JSON, not msal's wrapping. */
  onExchange(exchange: AuthorityExchange): void;
  /** Sees transport failures (refused, reset, timeout) with their Node error code intact. */
  onNetworkError(url: string, error: Error): void;
}

/**
 * The most of one answer read from the login service or Graph. Their JSON answers are a few kilobytes (a Graph
 * credential listing stays far below this); a 300 MB answer once took `check` to 1 GB of memory.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

// msal-node's own client sets no timeout on token POSTs (a stalled authority would block forever), ignores a
// per-tenant CA and has no proxy of its own, so mailprobe hands msal this client instead.
export class AuthorityHttpClient implements INetworkModule {
  readonly #options: AuthorityHttpOptions;

  constructor(options: AuthorityHttpOptions) {
    this.#options = options;
  }

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.#send<T>('GET', url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.#send<T>('POST', url, options);
  }

  #send<T>(method: 'GET' | 'POST', url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    const timeoutMs = Math.min(timeout ?? this.#options.timeoutMs, this.#options.timeoutMs);
    return new Promise((resolve, reject) => {
      const body = method === 'POST' ? (options?.body ?? '') : undefined;
      const headers: Record<string, string> = { ...options?.headers };
      if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
      const tls = {
        ...(this.#options.ca ? { ca: [...rootCertificates, ...this.#options.ca] } : {}),
        rejectUnauthorized: this.#options.rejectUnauthorized,
        minVersion: 'TLSv1.2' as const,
      };
      let route: ReturnType<typeof httpRoute>;
      try {
        const target = new URL(url);
        route = httpRoute(target, decideHttpProxy(target, this.#options.proxy, this.#options.env), { tls, timeoutMs });
      } catch (error) {
        const err = error instanceof Error ? error : new Error(String(error));
        this.#options.onNetworkError(url, err);
        reject(err);
        return;
      }
      const req = route.request(
        route.target,
        {
          ...route.options,
          method,
          headers: { ...headers, ...(route.options.headers as Record<string, string> | undefined) },
          ...tls,
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let received = 0;
          res.on('data', (chunk: Buffer) => {
            received += chunk.length;
            if (received > MAX_BODY_BYTES) req.destroy(new ResponseTooLargeError(url));
            else chunks.push(chunk);
          });
          res.on('error', reject);
          res.on('end', () => {
            clearTimeout(deadline);
            const text = Buffer.concat(chunks).toString('utf8');
            const responseHeaders: Record<string, string> = {};
            for (const [key, value] of Object.entries(res.headers)) {
              if (value !== undefined) responseHeaders[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
            }
            const parsed = parseJson(text);
            const status = res.statusCode ?? 0;
            this.#options.onExchange({ url, status, headers: responseHeaders, body: parsed });
            resolve({ status, headers: responseHeaders, body: (parsed ?? {}) as T });
          });
        },
      );
      // The socket timeout only fires on idleness; a server that trickles bytes is bounded by this deadline.
      const deadline = setTimeout(() => req.destroy(new AuthorityTimeoutError(timeoutMs)), timeoutMs);
      req.on('timeout', () => req.destroy(new AuthorityTimeoutError(timeoutMs)));
      req.on('error', (error) => {
        clearTimeout(deadline);
        this.#options.onNetworkError(url, error);
        reject(error);
      });
      req.end(body);
    });
  }
}

export class AuthorityTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';

  constructor(timeoutMs: number) {
    super(`no answer from the login service within ${timeoutMs} ms`);
    this.name = 'AuthorityTimeoutError';
  }
}

export class ResponseTooLargeError extends Error {
  readonly code = 'ERESPONSETOOLARGE';

  constructor(url: string) {
    super(`${new URL(url).host} answered more than ${MAX_BODY_BYTES / 1024 / 1024} MB; the rest was not read`);
    this.name = 'ResponseTooLargeError';
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
