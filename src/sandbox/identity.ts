import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { SandboxModel } from './model.js';

// Emulates an Azure identity endpoint on loopback, in its two forms: the instance metadata service
// (GET /metadata/identity/oauth2/token, header Metadata: true, api-version 2018-02-01) and the App Service /
// Container Apps one (IDENTITY_ENDPOINT, header X-IDENTITY-HEADER, api-version 2019-08-01). Its tokens are issued
// by the tenant's issuer with the identity's principal ID as subject, which is what an app's federated credential
// for a managed identity names. Never bound to 169.254.169.254: tests reach it only through configuration.

export interface ManagedIdentitySpec {
  /** The identity's Client ID (what monitors.json names); omitted: the system-assigned identity. */
  clientId?: string;
  /** Its Object (principal) ID: the token's sub. */
  principalId: string;
}

export interface IdentityEndpointServer {
  /** http://127.0.0.1:PORT/metadata/identity/oauth2/token — the IMDS form, for a credential's `endpoint`. */
  imdsUrl: string;
  /** The App Service form's IDENTITY_ENDPOINT and IDENTITY_HEADER. */
  appService: { endpoint: string; header: string };
  /** Token requests answered with a token. */
  tokensIssued(): number;
  close(): Promise<void>;
}

const IMDS_PATH = '/metadata/identity/oauth2/token';
const APP_SERVICE_PATH = '/msi/token';
const LIFETIME_SECONDS = 86_400;

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

export async function startIdentityEndpoint(options: {
  model: SandboxModel;
  tenantId: string;
  identities: ManagedIdentitySpec[];
}): Promise<IdentityEndpointServer> {
  const { model } = options;
  const header = randomBytes(16).toString('hex');
  const issuer = `https://login.microsoftonline.com/${options.tenantId}/v2.0`;
  let issued = 0;
  const sockets = new Set<Socket>();

  function answer(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const imds = url.pathname === IMDS_PATH;
    if (!imds && url.pathname !== APP_SERVICE_PATH) return send(res, 404, { error: 'not_found' });
    // IMDS refuses a request without the header that proves it is not a forwarded browser request.
    if (imds && req.headers['metadata'] !== 'true') {
      return send(res, 400, { error: 'invalid_request', error_description: 'Required metadata header not specified' });
    }
    if (!imds && req.headers['x-identity-header'] !== header)
      return send(res, 401, { error: 'unauthorized', error_description: 'X-IDENTITY-HEADER is missing or wrong' });
    const resource = url.searchParams.get('resource');
    if (!resource) return send(res, 400, { error: 'invalid_request', error_description: 'Required query variable resource is missing' });
    const clientId = url.searchParams.get('client_id') ?? undefined;
    const identity = options.identities.find((candidate) => candidate.clientId === clientId);
    // The text IMDS gives for an identity not assigned to the VM (docs/exchange-online-errors.md, "Managed identity").
    if (!identity) return send(res, 400, { error: 'invalid_request', error_description: 'Identity not found' });
    const token = model.issueExternalToken({ issuer, subject: identity.principalId, audience: resource, lifetimeSeconds: LIFETIME_SECONDS });
    const now = Math.floor(model.now() / 1000);
    issued += 1;
    send(res, 200, {
      access_token: token,
      client_id: identity.clientId ?? '',
      expires_in: String(LIFETIME_SECONDS),
      expires_on: String(now + LIFETIME_SECONDS),
      ext_expires_in: String(LIFETIME_SECONDS),
      not_before: String(now),
      resource,
      token_type: 'Bearer',
    });
  }

  const server = createServer((req, res) => {
    req.resume();
    req.once('end', () => answer(req, res));
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  return {
    imdsUrl: `${base}${IMDS_PATH}`,
    appService: { endpoint: `${base}${APP_SERVICE_PATH}`, header },
    tokensIssued: () => issued,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
