/**
 * The listener could not bind: a configuration problem (exit 2), not an internal error. The message names the
 * address and what the system said, so the operator can pick another port or host.
 */
export class ListenError extends Error {
  override name = 'ListenError';

  constructor(host: string, port: number, error: unknown) {
    const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : 'error';
    const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    super(`cannot listen on ${address}: ${WHY[code] ?? (error instanceof Error ? error.message : String(error))} (${code})`);
  }
}

const WHY: Record<string, string> = {
  EADDRINUSE: 'the port is already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the host is not an address of this machine',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name does not resolve (DNS temporarily unavailable)',
  EAI_NONAME: 'the host name does not resolve',
};
