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

/**
 * The listener would show mailboxes, tenant and app IDs to every host that reaches it: a configuration problem
 * (exit 2) that names where the address came from and the three ways out.
 */
export class ExposedListenerError extends Error {
  override name = 'ExposedListenerError';

  constructor(address: string, from: string) {
    super(
      [
        `refusing to listen on ${address} (${from}): other hosts can reach it and it asks for no credential, while /metrics, /api/status and /status/detail show mailboxes, tenant and app IDs.`,
        '  Either listen on loopback (127.0.0.1:9465),',
        '  or require a login: basic_auth_users in the web config (--web.config.file, agent.webConfigFile), agent.bearerTokenFile, or client_auth_type: RequireAndVerifyClientCert,',
        '  or accept it where the network already admits only your scraper (a firewall, a NetworkPolicy): agent.insecureListen: true or MAILPROBE_INSECURE_LISTEN=true.',
      ].join('\n'),
    );
  }
}
