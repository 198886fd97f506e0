import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MailLoginDecision, MailProtocol, SandboxModel } from '../../../src/sandbox/model.js';

// Dovecot 2.3's oauth2 passdb sends only the bearer token to tokeninfo/introspection URLs, so per-mailbox
// rules (FullAccess, protocol switches) could not be applied there. Its password-grant mode instead POSTs
//   grant_type=password&username=<XOAUTH2 user>&password=<bearer token>&client_id=..&client_secret=..
// (application/x-www-form-urlencoded) and, with send_auth_headers = yes, the header
// X-Dovecot-Auth-Service: imap | pop3 | smtp (Postfix's SASL service). That is exactly what Exchange decides on.
//
// Answers, as measured against 2.3.19:
// - 200 JSON with access_token and the username attribute: login OK (no further introspection request).
// - 400 {"error":"invalid_grant"}: login fails; the client gets the SASL error challenge, then NO / -ERR / 535.
// - 401 or 5xx: Dovecot treats it as a temporary auth failure and drops the client without a tagged reply,
//   so the bridge never uses them for a denial.

export const GRANT_PATH = '/grant';
/** The passdb's username_attribute. */
export const USERNAME_FIELD = 'username';
const MAX_BODY_BYTES = 64 * 1024;

const SERVICES: Record<string, MailProtocol> = { imap: 'imap', pop3: 'pop3', smtp: 'smtp' };

export interface BridgeDecision {
  user: string;
  protocol: MailProtocol;
  decision: MailLoginDecision;
}

export interface AuthBridge {
  /** http://127.0.0.1:<port>/grant, for Dovecot's grant_url. */
  grantUrl: string;
  clientId: string;
  clientSecret: string;
  /** Every verdict so far, oldest first (users and reasons only, never tokens). */
  decisions(): readonly BridgeDecision[];
  close(): Promise<void>;
}

type GrantRequest = { user: string; token: string; protocol: MailProtocol };

function parseGrant(headers: http.IncomingHttpHeaders, body: string, client: { id: string; secret: string }): GrantRequest | string {
  const form = new URLSearchParams(body);
  if (form.get('grant_type') !== 'password') return 'unsupported grant_type';
  if (form.get('client_id') !== client.id || form.get('client_secret') !== client.secret) return 'bad client credentials';
  const service = headers['x-dovecot-auth-service'];
  const protocol = typeof service === 'string' ? SERVICES[service] : undefined;
  if (!protocol) return `unknown service ${JSON.stringify(service)} (send_auth_headers off?)`;
  const user = form.get('username');
  const token = form.get('password');
  if (!user || !token) return 'username or token missing';
  return { user, token, protocol };
}

function readBody(request: http.IncomingMessage): Promise<string | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(null);
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', () => resolve(null));
  });
}

function reply(response: http.ServerResponse, status: number, body: Record<string, unknown>): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

/** Starts the HTTP endpoint Dovecot's oauth2 passdb asks, answering from `model.authorizeMailLogin`. */
export async function startAuthBridge(options: { model: SandboxModel }): Promise<AuthBridge> {
  const client = { id: 'mailprobe-testbed-dovecot', secret: randomBytes(16).toString('hex') };
  const decisions: BridgeDecision[] = [];

  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- node's http server ignores the handler's promise; a test helper that fails fails its test
  const server = http.createServer(async (request, response) => {
    if (request.method !== 'POST' || request.url !== GRANT_PATH) {
      reply(response, 404, { error: 'not_found' });
      return;
    }
    const body = await readBody(request);
    if (body === null) return reply(response, 400, { error: 'invalid_request', error_description: 'body too large' });
    const grant = parseGrant(request.headers, body, client);
    if (typeof grant === 'string') return reply(response, 400, { error: 'invalid_request', error_description: grant });

    const decision = options.model.authorizeMailLogin(grant.user, grant.token, grant.protocol);
    decisions.push({ user: grant.user, protocol: grant.protocol, decision });
    if (!decision.ok) return reply(response, 400, { error: 'invalid_grant', error_description: decision.why });
    // Dovecot wants an access_token back; it only stores it, so a marker does instead of echoing the real one.
    reply(response, 200, {
      access_token: 'testbed-accepted',
      token_type: 'Bearer',
      expires_in: 300,
      [USERNAME_FIELD]: grant.user,
    });
  });
  // Dovecot keeps its HTTP connection open for 60 s; a shorter server-side idle close races its next request.
  server.keepAliveTimeout = 120_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    grantUrl: `http://127.0.0.1:${port}${GRANT_PATH}`,
    clientId: client.id,
    clientSecret: client.secret,
    decisions: () => decisions,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
