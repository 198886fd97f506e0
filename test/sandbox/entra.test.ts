import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import {
  ConfidentialClientApplication,
  ServerError,
  type Configuration,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
} from '@azure/msal-node';
import { createCertificateCredential, createPki, type CertificateCredential, type TestPki } from '../../src/sandbox/certs.js';
import { controlRoutes } from '../../src/sandbox/control.js';
import { startEntra, type EntraServer } from '../../src/sandbox/entra.js';
import { decodeJwt } from '../../src/sandbox/jwt.js';
import { SandboxModel } from '../../src/sandbox/model.js';

const TENANT = '0f1e2d3c-4b5a-4697-8877-665544332211';
const CLIENT = '3a4b5c6d-7e8f-4a0b-9c1d-2e3f4a5b6c7d';
const CERT_CLIENT = '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a';
const SECRET = 'Qx~8Q~sandbox.secret.value';
const OUTLOOK = 'https://outlook.office365.com/.default';

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS exchange trusting only the test CA; refuses any host but 127.0.0.1 so nothing leaves the box. */
function httpsCall(
  ca: string,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<RawAnswer> {
  const target = new URL(url);
  if (target.hostname !== '127.0.0.1') return Promise.reject(new Error(`refusing to call ${target.host}`));
  return new Promise((resolve, reject) => {
    const req = request(target, { method: init.method ?? 'GET', headers: init.headers, ca: [ca], timeout: init.timeoutMs ?? 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(init.body);
  });
}

/**
 * msal-node 7 sends with global fetch and has no option for extra CAs (customAgentOptions is gone), so a
 * caller that must trust a private CA supplies its own INetworkModule. A non-JSON body (the 429's "Too Many
 * Requests") becomes an error-shaped body so msal raises a ServerError carrying the status, instead of the
 * default client's tokenParsingError that loses it.
 */
function networkModule(ca: string): INetworkModule {
  const call = async <T>(method: string, url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> => {
    const answer = await httpsCall(ca, url, { method, headers: options?.headers, body: options?.body });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (typeof value === 'string') headers[name] = value;
    }
    return { status: answer.status, headers, body: parseBody(answer) as T };
  };
  return {
    sendGetRequestAsync: (url, options) => call('GET', url, options),
    sendPostRequestAsync: (url, options) => call('POST', url, options),
  };
}

function parseBody(answer: RawAnswer): unknown {
  try {
    return JSON.parse(answer.body);
  } catch {
    return { error: `http_${answer.status}`, error_description: answer.body };
  }
}

let pki: TestPki;
let model: SandboxModel;
let entra: EntraServer;
let appCert: CertificateCredential;
let strayCert: CertificateCredential;

function cca(auth: Partial<Configuration['auth']> & { tenant?: string; clientId?: string }): ConfidentialClientApplication {
  const { tenant = TENANT, clientId = CLIENT, ...rest } = auth;
  return new ConfidentialClientApplication({
    auth: { clientId, authority: `${entra.url}/${tenant}`, knownAuthorities: [entra.authorityHost], ...rest },
    system: { networkClient: networkModule(pki.ca.cert) },
  });
}

async function acquire(app: ConfidentialClientApplication, scope = OUTLOOK): Promise<Record<string, unknown>> {
  const result = await app.acquireTokenByClientCredential({ scopes: [scope] });
  assert.ok(result?.accessToken);
  const decoded = decodeJwt(result.accessToken);
  assert.ok(decoded);
  return decoded.payload;
}

async function acquireError(app: ConfidentialClientApplication, scope = OUTLOOK): Promise<ServerError> {
  try {
    await app.acquireTokenByClientCredential({ scopes: [scope] });
  } catch (error) {
    assert.ok(error instanceof ServerError, `expected ServerError, got ${String(error)}`);
    return error;
  }
  assert.fail('token request unexpectedly succeeded');
}

function postToken(form: Record<string, string>, tenant = TENANT): Promise<RawAnswer> {
  return httpsCall(pki.ca.cert, `${entra.url}/${tenant}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'client-request-id': '5d1b6c2a-0000-4000-8000-000000000001' },
    body: new URLSearchParams(form).toString(),
  });
}

/** Asserts Entra's exact error body shape and returns the parsed body. */
function assertEntraError(answer: RawAnswer, status: number, error: string, code: number): Record<string, unknown> {
  assert.equal(answer.status, status, answer.body);
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ['error', 'error_description', 'error_codes', 'timestamp', 'trace_id', 'correlation_id', 'error_uri']);
  assert.equal(body['error'], error);
  assert.deepEqual(body['error_codes'], [code]);
  assert.equal(body['error_uri'], `https://login.microsoftonline.com/error?code=${code}`);
  assert.match(String(body['timestamp']), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
  const description = String(body['error_description']);
  assert.ok(description.startsWith(`AADSTS${code}: `), description);
  assert.ok(
    description.endsWith(
      `\r\nTrace ID: ${String(body['trace_id'])}\r\nCorrelation ID: ${String(body['correlation_id'])}\r\nTimestamp: ${String(body['timestamp'])}`,
    ),
    description,
  );
  return body;
}

before(async () => {
  [pki, appCert, strayCert] = await Promise.all([createPki(), createCertificateCredential('mailprobe cert app'), createCertificateCredential('stray')]);
  model = SandboxModel.fromSpec([
    {
      tenantId: TENANT,
      domain: 'contoso.onmicrosoft.com',
      apps: [
        { clientId: CLIENT, secrets: [{ value: SECRET }] },
        { clientId: CERT_CLIENT, secrets: [], certificates: [{ certPem: appCert.cert }] },
      ],
    },
  ]);
  entra = await startEntra({ model, tls: pki.server, extraRoutes: controlRoutes(model) });
});

after(async () => {
  await entra.close();
});

describe('msal-node against the Entra emulator', () => {
  test('client secret: token with the right claims, then served from msal cache', async () => {
    const app = cca({ clientSecret: SECRET });
    const before = entra.tokenRequests();
    const claims = await acquire(app);
    assert.equal(claims['aud'], 'https://outlook.office365.com');
    assert.equal(claims['tid'], TENANT);
    assert.equal(claims['appid'], CLIENT);
    assert.equal(claims['appidacr'], '1');
    assert.equal(claims['oid'], model.app(TENANT, CLIENT).servicePrincipalObjectId);
    assert.deepEqual(claims['roles'], ['IMAP.AccessAsApp', 'POP.AccessAsApp', 'SMTP.SendAsApp']);
    await acquire(app);
    assert.equal(entra.tokenRequests() - before, 1);
  });

  test('tenant addressed by domain resolves to its id', async () => {
    const claims = await acquire(cca({ tenant: 'contoso.onmicrosoft.com', clientSecret: SECRET }), 'https://outlook.office.com/.default');
    assert.equal(claims['tid'], TENANT);
    assert.equal(claims['aud'], 'https://outlook.office.com');
  });

  test('certificate credential with SHA-256 (PS256) and SHA-1 (RS256) thumbprints', async () => {
    const sha256 = await acquire(
      cca({ clientId: CERT_CLIENT, clientCertificate: { thumbprintSha256: appCert.thumbprintSha256, privateKey: appCert.key, x5c: appCert.cert } }),
    );
    assert.equal(sha256['appidacr'], '2');
    assert.equal(sha256['appid'], CERT_CLIENT);
    const sha1 = await acquire(cca({ clientId: CERT_CLIENT, clientCertificate: { thumbprint: appCert.thumbprint, privateKey: appCert.key } }));
    assert.equal(sha1['appidacr'], '2');
  });

  test('consent missing is not an error: the token lacks the roles claim', async () => {
    model.setRoles(TENANT, CLIENT, []);
    try {
      const claims = await acquire(cca({ clientSecret: SECRET }));
      assert.equal('roles' in claims, false);
    } finally {
      model.setRoles(TENANT, CLIENT, ['IMAP.AccessAsApp', 'POP.AccessAsApp', 'SMTP.SendAsApp']);
    }
  });

  const cases: Array<{
    name: string;
    status: number;
    error: string;
    code: number;
    app: () => ConfidentialClientApplication;
    scope?: string;
    arrange?: () => () => void;
    text: () => string;
  }> = [
    {
      name: 'wrong secret (or the secret ID)',
      status: 401,
      error: 'invalid_client',
      code: 7000215,
      app: () => cca({ clientSecret: model.app(TENANT, CLIENT).secrets[0]?.id ?? '' }),
      text: () =>
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${CLIENT}'.`,
    },
    {
      name: 'expired secret',
      status: 401,
      error: 'invalid_client',
      code: 7000222,
      app: () => cca({ clientSecret: SECRET }),
      arrange: () => {
        const secret = model.app(TENANT, CLIENT).secrets[0];
        assert.ok(secret);
        const saved = secret.expiresAt;
        model.expireSecret(TENANT, CLIENT);
        return () => {
          secret.expiresAt = saved;
        };
      },
      text: () =>
        `The provided client secret keys for app '${CLIENT}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
    },
    {
      name: 'unknown application',
      status: 400,
      error: 'unauthorized_client',
      code: 700016,
      app: () => cca({ clientId: '00000000-1111-4222-8333-444444444444', clientSecret: SECRET }),
      text: () => "Application with identifier '00000000-1111-4222-8333-444444444444' was not found in the directory 'contoso'.",
    },
    {
      name: 'specific scope without /.default',
      status: 400,
      error: 'invalid_scope',
      code: 1002012,
      app: () => cca({ clientSecret: SECRET }),
      scope: 'https://outlook.office365.com/IMAP.AccessAsApp',
      text: () =>
        'The provided value for scope https://outlook.office365.com/IMAP.AccessAsApp is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).',
    },
    {
      name: 'malformed scope',
      status: 400,
      error: 'invalid_scope',
      code: 70011,
      app: () => cca({ clientSecret: SECRET }),
      scope: 'IMAP.AccessAsApp',
      text: () => "The provided value for the input parameter 'scope' is not valid. The scope IMAP.AccessAsApp is not valid.",
    },
    {
      name: 'unknown resource',
      status: 400,
      error: 'invalid_resource',
      code: 500011,
      app: () => cca({ clientSecret: SECRET }),
      scope: 'https://outlook.office356.com/.default',
      text: () => 'The resource principal named https://outlook.office356.com was not found in the tenant named contoso.',
    },
    {
      name: 'certificate not registered',
      status: 401,
      error: 'invalid_client',
      code: 700027,
      app: () => cca({ clientId: CERT_CLIENT, clientCertificate: { thumbprintSha256: strayCert.thumbprintSha256, privateKey: strayCert.key } }),
      text: () =>
        `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${strayCert.thumbprintSha256}'`,
    },
    {
      name: 'application disabled',
      status: 400,
      error: 'unauthorized_client',
      code: 7000112,
      app: () => cca({ clientSecret: SECRET }),
      arrange: () => {
        model.setAppEnabled(TENANT, CLIENT, false);
        return () => model.setAppEnabled(TENANT, CLIENT, true);
      },
      text: () => `Application '${CLIENT}'(mailprobe) is disabled.`,
    },
  ];

  for (const testCase of cases) {
    test(`${testCase.name}: AADSTS${testCase.code} as a ServerError`, async () => {
      const restore = testCase.arrange?.();
      try {
        const error = await acquireError(testCase.app(), testCase.scope);
        assert.equal(error.errorCode, testCase.error);
        // Typed string in msal-common's d.ts, but msal passes error_codes[0] through as the JSON number.
        assert.equal(typeof error.errorNo, 'number');
        assert.equal(Number(error.errorNo), testCase.code);
        assert.equal(error.status, testCase.status);
        assert.equal(error.subError, '');
        const text = testCase.text();
        assert.ok(error.errorMessage.startsWith(`Error(s): ${testCase.code} - Timestamp: `), error.errorMessage);
        assert.ok(error.errorMessage.includes(` - Description: AADSTS${testCase.code}: ${text}`), error.errorMessage);
        assert.match(error.errorMessage, / - Correlation ID: [0-9a-f-]{36} - Trace ID: [0-9a-f-]{36}$/);
      } finally {
        restore?.();
      }
    });
  }

  test('throttling: ServerError with status 429, then msal refuses locally until Retry-After passes', async () => {
    const app = cca({ clientSecret: SECRET });
    model.faults.tokenThrottleSeconds = 30;
    const before = entra.tokenRequests();
    try {
      const first = await acquireError(app);
      assert.equal(first.errorCode, 'http_429');
      assert.equal(first.status, 429);
      assert.match(first.errorMessage, /Description: Too Many Requests/);
      model.resetFaults();
      const second = await acquireError(app);
      assert.equal(second.status, undefined);
      assert.equal(entra.tokenRequests(), before + 1);
    } finally {
      model.resetFaults();
    }
  });

  test('msal refuses /common locally, before any request', async () => {
    const before = entra.tokenRequests();
    await assert.rejects(cca({ tenant: 'common', clientSecret: SECRET }).acquireTokenByClientCredential({ scopes: [OUTLOOK] }), {
      errorCode: 'missing_tenant_id_error',
    });
    assert.equal(entra.tokenRequests(), before);
  });
});

describe('raw token endpoint', () => {
  test('healthy request: Entra v2 success body', async () => {
    const answer = await postToken({ grant_type: 'client_credentials', client_id: CLIENT, client_secret: SECRET, scope: OUTLOOK });
    assert.equal(answer.status, 200);
    const body = JSON.parse(answer.body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ['token_type', 'expires_in', 'ext_expires_in', 'access_token']);
    assert.equal(body['token_type'], 'Bearer');
    assert.equal(body['expires_in'], 3600);
  });

  test('bad secret: exact Entra JSON with the correlation id echoed', async () => {
    const answer = await postToken({ grant_type: 'client_credentials', client_id: CLIENT, client_secret: 'wrong', scope: OUTLOOK });
    const body = assertEntraError(answer, 401, 'invalid_client', 7000215);
    assert.equal(body['correlation_id'], '5d1b6c2a-0000-4000-8000-000000000001');
    assert.equal(answer.headers['content-type'], 'application/json; charset=utf-8');
  });

  test('/common and /consumers: AADSTS9001023', async () => {
    for (const tenant of ['common', 'consumers']) {
      const answer = await postToken({ grant_type: 'client_credentials', client_id: CLIENT, client_secret: SECRET, scope: OUTLOOK }, tenant);
      const body = assertEntraError(answer, 400, 'invalid_request', 9001023);
      assert.ok(
        String(body['error_description']).startsWith(
          "AADSTS9001023: The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.\r\n",
        ),
      );
    }
  });

  test('no credential: AADSTS7000218', async () => {
    const answer = await postToken({ grant_type: 'client_credentials', client_id: CLIENT, scope: OUTLOOK });
    const body = assertEntraError(answer, 401, 'invalid_client', 7000218);
    assert.ok(
      String(body['error_description']).startsWith(
        "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.\r\n",
      ),
    );
  });

  test('every msal-visible error case has the exact body shape', async () => {
    const answers = await Promise.all([
      postToken({ grant_type: 'client_credentials', client_id: 'nope', client_secret: SECRET, scope: OUTLOOK }),
      postToken({ grant_type: 'client_credentials', client_id: CLIENT, client_secret: SECRET, scope: OUTLOOK }, 'fabrikam.onmicrosoft.com'),
      postToken({ grant_type: 'client_credentials', client_id: CLIENT, client_secret: SECRET, scope: 'https://outlook.office365.com/IMAP.AccessAsApp' }),
      postToken({
        grant_type: 'client_credentials',
        client_id: CLIENT,
        client_secret: SECRET,
        scope: 'https://graph.microsoft.com/.default https://outlook.office365.com/.default',
      }),
    ]);
    assertEntraError(answers[0], 400, 'unauthorized_client', 700016);
    assertEntraError(answers[1], 400, 'invalid_tenant', 90002);
    assertEntraError(answers[2], 400, 'invalid_scope', 1002012);
    assertEntraError(answers[3], 400, 'invalid_scope', 700022);
  });

  test('an unknown tenant: the metadata request gets 400 invalid_tenant, and msal-node throws endpoints_resolution_error', async () => {
    const answer = await httpsCall(pki.ca.cert, `${entra.url}/fabrikam.onmicrosoft.com/v2.0/.well-known/openid-configuration`, {
      headers: { 'client-request-id': '5d1b6c2a-0000-4000-8000-000000000002' },
    });
    const body = assertEntraError(answer, 400, 'invalid_tenant', 90002);
    assert.match(
      String(body['error_description']),
      /^AADSTS90002: Tenant 'fabrikam\.onmicrosoft\.com' not found\. Check to make sure you have the correct tenant ID and are signing into the correct cloud\. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant\.\r\nTrace ID: /,
    );
    assert.equal(body['correlation_id'], '5d1b6c2a-0000-4000-8000-000000000002');
    const before = entra.tokenRequests();
    await assert.rejects(acquire(cca({ tenant: 'fabrikam.onmicrosoft.com', clientSecret: SECRET })), (error: unknown) => {
      assert.equal((error as { errorCode?: unknown }).errorCode, 'endpoints_resolution_error');
      return true;
    });
    assert.equal(entra.tokenRequests(), before, 'no token request follows a refused metadata request');
  });

  test('throttling: 429, Retry-After and a plain "Too Many Requests" body', async () => {
    model.faults.tokenThrottleSeconds = 60;
    try {
      const answer = await postToken({ grant_type: 'client_credentials', client_id: CLIENT, client_secret: SECRET, scope: OUTLOOK });
      assert.equal(answer.status, 429);
      assert.equal(answer.headers['retry-after'], '60');
      assert.equal(answer.body, 'Too Many Requests');
    } finally {
      model.resetFaults();
    }
  });

  test('hang fault: the request is counted and never answered', async () => {
    model.faults.tokenHang = true;
    const before = entra.tokenRequests();
    try {
      await assert.rejects(
        httpsCall(pki.ca.cert, `${entra.url}/${TENANT}/oauth2/v2.0/token`, { method: 'POST', body: 'grant_type=client_credentials', timeoutMs: 300 }),
        /timeout/,
      );
      assert.equal(entra.tokenRequests(), before + 1);
    } finally {
      model.resetFaults();
    }
  });
});

describe('Graph application credentials', () => {
  const graphUrl = (): string => `${entra.url}/v1.0/applications(appId='${CLIENT}')?$select=passwordCredentials,keyCredentials`;

  async function token(scope: string): Promise<string> {
    const answer = await postToken({ grant_type: 'client_credentials', client_id: CLIENT, client_secret: SECRET, scope });
    return String((JSON.parse(answer.body) as Record<string, unknown>)['access_token']);
  }

  test('lists secret and certificate metadata, never values', async () => {
    model.addCertificate(TENANT, CLIENT, { certPem: appCert.cert });
    try {
      const answer = await httpsCall(pki.ca.cert, graphUrl(), { headers: { authorization: `Bearer ${await token('https://graph.microsoft.com/.default')}` } });
      assert.equal(answer.status, 200, answer.body);
      assert.equal(answer.body.includes(SECRET), false);
      const body = JSON.parse(answer.body) as { passwordCredentials: Array<Record<string, unknown>>; keyCredentials: Array<Record<string, unknown>> };
      const secret = model.app(TENANT, CLIENT).secrets[0];
      assert.deepEqual(
        body.passwordCredentials.map((c) => [c['keyId'], c['displayName'], c['endDateTime']]),
        [[secret?.id, 'mailprobe', new Date(secret?.expiresAt ?? 0).toISOString().replace('.000Z', 'Z')]],
      );
      assert.equal(body.keyCredentials.length, 1);
      assert.equal(body.keyCredentials[0]?.['customKeyIdentifier'], appCert.thumbprint);
      assert.equal(body.keyCredentials[0]?.['type'], 'AsymmetricX509Cert');
      assert.equal(body.keyCredentials[0]?.['usage'], 'Verify');
      assert.equal(body.keyCredentials[0]?.['endDateTime'], appCert.notAfter.toISOString().replace('.000Z', 'Z'));
    } finally {
      model.removeCertificate(TENANT, CLIENT, appCert.thumbprint);
    }
  });

  test('403 Authorization_RequestDenied without Application.Read.All', async () => {
    model.setRoles(TENANT, CLIENT, [], 'graph');
    try {
      const answer = await httpsCall(pki.ca.cert, graphUrl(), { headers: { authorization: `Bearer ${await token('https://graph.microsoft.com/.default')}` } });
      assert.equal(answer.status, 403);
      const body = JSON.parse(answer.body) as { error: { code: string; message: string; innerError: Record<string, unknown> } };
      assert.equal(body.error.code, 'Authorization_RequestDenied');
      assert.equal(body.error.message, 'Insufficient privileges to complete the operation.');
      assert.ok(body.error.innerError['request-id']);
    } finally {
      model.setRoles(TENANT, CLIENT, ['Application.Read.All'], 'graph');
    }
  });

  test('401 for an Outlook token or none', async () => {
    const outlook = await httpsCall(pki.ca.cert, graphUrl(), { headers: { authorization: `Bearer ${await token(OUTLOOK)}` } });
    assert.equal(outlook.status, 401);
    assert.match(outlook.body, /"code":"InvalidAuthenticationToken"/);
    const none = await httpsCall(pki.ca.cert, graphUrl());
    assert.equal(none.status, 401);
  });
});

describe('control API', () => {
  function act(action: Record<string, unknown>): Promise<RawAnswer> {
    return httpsCall(pki.ca.cert, `${entra.url}/_sandbox/actions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(action),
    });
  }

  test('GET /_sandbox/model shows ids and end dates, never secret values', async () => {
    const answer = await httpsCall(pki.ca.cert, `${entra.url}/_sandbox/model`);
    assert.equal(answer.status, 200);
    assert.equal(answer.body.includes(SECRET), false);
    const view = JSON.parse(answer.body) as { tenants: Array<{ tenantId: string; apps: Array<{ clientId: string; secrets: unknown[] }> }> };
    assert.equal(view.tenants[0]?.tenantId, TENANT);
    assert.equal(view.tenants[0]?.apps[0]?.clientId, CLIENT);
    assert.equal(view.tenants[0]?.apps[0]?.secrets.length, 1);
  });

  test('POST /_sandbox/actions drives the model; bad actions are 400 with a reason', async () => {
    assert.equal((await act({ action: 'setAppEnabled', tenantId: TENANT, clientId: CLIENT, enabled: false })).status, 200);
    try {
      const denied = await postToken({ grant_type: 'client_credentials', client_id: CLIENT, client_secret: SECRET, scope: OUTLOOK });
      assertEntraError(denied, 400, 'unauthorized_client', 7000112);
    } finally {
      await act({ action: 'setAppEnabled', tenantId: TENANT, clientId: CLIENT, enabled: true });
    }
    assert.equal(model.app(TENANT, CLIENT).enabled, true);
    assert.equal((await act({ action: 'setFaults', faults: { hang: { imap: true }, imapThrottleMs: 1000 } })).status, 200);
    assert.equal(model.faults.hang.imap, true);
    assert.equal(model.faults.imapThrottleMs, 1000);
    assert.equal((await act({ action: 'resetFaults' })).status, 200);
    assert.equal(model.faults.hang.imap, false);
    const unknown = await act({ action: 'setAppEnabled', tenantId: TENANT, clientId: 'nope', enabled: true });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body, /unknown app nope/);
    assert.equal((await act({ action: 'dropTables' })).status, 400);
  });
});
