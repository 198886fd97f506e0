import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createCertificateCredential, createPki, type CertificateCredential, type TestPki } from '../../src/sandbox/certs.js';
import { startLineServer, type LineConnection, type LineServer } from '../../src/sandbox/line-server.js';
import { startAgentProcess, type AgentProcess } from '../support/agent-process.js';
import { runCli } from '../support/cli.js';
import { startEntra } from '../../src/sandbox/entra.js';
import { startIdentityEndpoint, type IdentityEndpointServer } from '../../src/sandbox/identity.js';
import { defaultSecretValue, SandboxModel } from '../../src/sandbox/model.js';
import { pickPorts } from '../support/testbed/ports.js';
import { writeCache } from '../../src/auth/token-cache.js';
import { cacheFileFor } from '../../src/config/token-cache-path.js';
import { Secret } from '../../src/core/secret.js';

// Every error path answered with the credentials themselves, as a proxy, a wrong authorityHost or a chatty
// server does: the login service and Graph echo the request (client_secret, client_assertion, bearer token),
// IMAP, POP3 and SMTP echo the XOAUTH2 string. Then every output the agent and the CLI produce is searched.

const ECHO_SECRET = 'Leak~Secret.Value_0123456789abcdefXYZ';
// A delegated monitor's refresh token, not Entra-shaped, so only its registration with the redactor can mask it;
// and the key its cache is encrypted under.
const REFRESH_TOKEN = 'LeakRefresh~Token.0123456789abcdefghijklmnopqrstuv';
const CACHE_KEY = Buffer.alloc(32, 0x5a).toString('base64');

/** The Entra emulator for the checks that need a real token to reach their (echoing) mail server. */
let bed: { close(): Promise<void>; entra: { authorityHost: string }; tenantId: string; clientId: string; clientSecret: string; mailbox: string };
let pki: TestPki;
let cert: CertificateCredential;
let dir: string;
let stateDir: string;
let agent: AgentProcess | undefined;
const servers: Array<{ close(): Promise<void> | void }> = [];
/** Credentials seen on the wire by the hostile servers; none may appear in any output. */
const seen = new Set<string>();
const notifications: Array<{ path: string; body: string }> = [];
let federatedToken: string;
let identity: IdentityEndpointServer;

function remember(value: string | undefined): void {
  if (value && value.length >= 8) seen.add(value);
}

/** An XOAUTH2 initial response: remember it, its decoded form and the bearer token inside. */
function rememberXOAuth2(b64: string): string {
  remember(b64);
  const decoded = Buffer.from(b64, 'base64').toString('latin1');
  remember(decoded);
  remember(/auth=Bearer ([^\x01]+)/.exec(decoded)?.[1]);
  return `${b64} (${decoded.replace(/\x01/g, ' ')})`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function listening(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** A login service (and Graph) that answers every credential request with the request itself. */
async function startEchoLogin(): Promise<string> {
  let base = '';
  const server = createHttpsServer({ cert: pki.server.cert, key: pki.server.key }, (req, res) => {
    void readBody(req).then((body) => {
      const path = new URL(req.url ?? '/', base).pathname;
      const send = (status: number, value: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      };
      const discovery = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path);
      if (discovery) {
        const root = `${base}/${discovery[1]}`;
        return send(200, {
          token_endpoint: `${root}/oauth2/v2.0/token`,
          issuer: `${root}/v2.0`,
          authorization_endpoint: `${root}/oauth2/v2.0/authorize`,
          end_session_endpoint: `${root}/oauth2/v2.0/logout`,
          jwks_uri: `${root}/discovery/v2.0/keys`,
        });
      }
      if (path.endsWith('/oauth2/v2.0/token')) {
        const form = new URLSearchParams(body);
        remember(form.get('client_secret') ?? undefined);
        remember(form.get('client_assertion') ?? undefined);
        remember(form.get('refresh_token') ?? undefined);
        remember(body);
        return send(400, {
          error: 'invalid_request',
          error_description: `AADSTS900144: The proxy could not forward the request: ${body} client_secret ${form.get('client_secret') ?? ''} assertion ${form.get('client_assertion') ?? ''}`,
          error_codes: [900144],
        });
      }
      // Graph: the bearer token in its error, with and without the header name.
      const authorization = req.headers.authorization ?? '';
      const token = authorization.replace(/^Bearer /, '');
      remember(token);
      return send(401, { error: { code: 'InvalidAuthenticationToken', message: `Token rejected: ${authorization} raw=${token}` } });
    });
  });
  servers.push({ close: () => void server.close() });
  const port = await listening(server);
  base = `https://127.0.0.1:${port}`;
  return `127.0.0.1:${port}`;
}

async function lineServer(options: { implicitTls: boolean; handle: (c: LineConnection) => Promise<void> }): Promise<LineServer> {
  const server = await startLineServer({
    host: '127.0.0.1',
    ...(options.implicitTls ? { tls: pki.server } : { starttls: pki.server }),
    idleTimeoutMs: 20_000,
    maxLineBytes: 64 * 1024,
    handle: options.handle,
  });
  servers.push(server);
  return server;
}

/** IMAP that refuses AUTHENTICATE by quoting the XOAUTH2 response back, with or without SASL-IR. */
function echoImap(c: LineConnection): Promise<void> {
  const caps = '* CAPABILITY IMAP4rev1 AUTH=XOAUTH2 SASL-IR';
  return (async () => {
    c.writeLine('* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2 SASL-IR] echo ready');
    for (;;) {
      const line = await c.readLine();
      if (line === null) return;
      const [tag = '*', command = '', ...rest] = line.split(' ');
      const verb = command.toUpperCase();
      if (verb === 'CAPABILITY') {
        c.writeLine(caps);
        c.writeLine(`${tag} OK CAPABILITY completed`);
      } else if (verb === 'AUTHENTICATE') {
        let response = rest[1];
        if (!response) {
          c.writeLine('+ ');
          response = (await c.readLine()) ?? '';
        }
        c.writeLine(`${tag} NO [AUTHENTICATIONFAILED] AUTHENTICATE failed for ${rememberXOAuth2(response)}`);
      } else if (verb === 'LOGOUT') {
        c.writeLine('* BYE');
        c.writeLine(`${tag} OK LOGOUT completed`);
        return;
      } else {
        c.writeLine(`${tag} OK ${verb} completed`);
      }
    }
  })();
}

function echoPop3(c: LineConnection): Promise<void> {
  return (async () => {
    c.writeLine('+OK echo POP3 ready');
    for (;;) {
      const line = await c.readLine();
      if (line === null) return;
      const [verb = '', , initial] = line.split(' ');
      switch (verb.toUpperCase()) {
        case 'CAPA':
          c.write('+OK\r\nUSER\r\nSASL XOAUTH2\r\n.\r\n');
          break;
        case 'AUTH': {
          let response = initial;
          if (!response) {
            c.writeLine('+ ');
            response = (await c.readLine()) ?? '';
          }
          c.writeLine(`-ERR Authentication failure: unknown user name or bad password ${rememberXOAuth2(response)}`);
          break;
        }
        case 'QUIT':
          c.writeLine('+OK bye');
          return;
        default:
          c.writeLine('-ERR unknown command');
      }
    }
  })();
}

function echoSmtp(c: LineConnection): Promise<void> {
  return (async () => {
    c.writeLine('220 echo ESMTP ready');
    for (;;) {
      const line = await c.readLine();
      if (line === null) return;
      const [verb = '', , initial] = line.split(' ');
      switch (verb.toUpperCase()) {
        case 'EHLO':
          c.write(c.secure ? '250-echo\r\n250 AUTH XOAUTH2\r\n' : '250-echo\r\n250 STARTTLS\r\n');
          break;
        case 'STARTTLS':
          c.writeLine('220 2.0.0 go ahead');
          await c.startTls();
          break;
        case 'AUTH': {
          let response = initial;
          if (!response) {
            c.writeLine('334 ');
            response = (await c.readLine()) ?? '';
          }
          c.writeLine(`535 5.7.3 Authentication unsuccessful ${rememberXOAuth2(response)}`);
          break;
        }
        case 'QUIT':
          c.writeLine('221 bye');
          return;
        default:
          c.writeLine('250 ok');
      }
    }
  })();
}

/** Every notifier posts here; bodies are kept whole. */
async function startReceiver(): Promise<string> {
  const server = createHttpServer((req, res) => {
    void readBody(req).then((body) => {
      notifications.push({ path: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  servers.push({ close: () => void server.close() });
  return `http://127.0.0.1:${await listening(server)}`;
}

function filesUnder(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

function assertClean(where: string, text: string): void {
  for (const secret of [...seen, ECHO_SECRET, bed.clientSecret, encodeURIComponent(ECHO_SECRET), REFRESH_TOKEN, encodeURIComponent(REFRESH_TOKEN), CACHE_KEY]) {
    const at = text.indexOf(secret);
    assert.equal(at, -1, `${where} leaks a credential (${secret.slice(0, 12)}…): …${text.slice(Math.max(0, at - 80), at + 40)}…`);
  }
  for (const line of cert.key.split('\n').filter((l) => l.length > 40)) assert.ok(!text.includes(line), `${where} leaks the private key`);
}

before(async () => {
  [pki, cert] = await Promise.all([createPki(), createCertificateCredential('leak test app')]);
  const model = SandboxModel.fromSpec([{ domain: 'contoso.onmicrosoft.com' }]);
  const entra = await startEntra({ model, tls: pki.server });
  const tenant = model.tenants()[0]!;
  const clientId = [...tenant.apps.keys()][0]!;
  bed = {
    close: () => entra.close(),
    entra,
    tenantId: tenant.tenantId,
    clientId,
    clientSecret: defaultSecretValue(clientId),
    mailbox: [...tenant.mailboxes.values()][0]!.address,
  };
  const echoLogin = await startEchoLogin();
  const imap = await lineServer({ implicitTls: true, handle: echoImap });
  const pop3 = await lineServer({ implicitTls: true, handle: echoPop3 });
  const smtp = await lineServer({ implicitTls: false, handle: echoSmtp });
  const receiver = await startReceiver();
  // Workload identities: a projected token file, and a managed identity's token from an identity endpoint; the
  // echoing login service quotes either back as client_assertion.
  federatedToken = model.issueExternalToken({
    issuer: 'https://oidc.cluster.example/',
    subject: 'system:serviceaccount:monitoring:mailprobe',
    audience: 'api://AzureADTokenExchange',
  });
  remember(federatedToken);
  identity = await startIdentityEndpoint({
    model,
    tenantId: tenant.tenantId,
    identities: [{ clientId: '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a', principalId: '8f9a0b1c-2d3e-4f5a-8b6c-7d8e9f0a1b2c' }],
  });
  servers.push(identity);

  dir = mkdtempSync(join(tmpdir(), 'mailprobe-leak-'));
  stateDir = join(dir, 'state');
  writeFileSync(join(dir, 'ca.pem'), pki.ca.cert);
  writeFileSync(join(dir, 'bed.secret'), bed.clientSecret);
  writeFileSync(join(dir, 'echo.secret'), ECHO_SECRET);
  writeFileSync(join(dir, 'app.pem'), cert.cert);
  writeFileSync(join(dir, 'app.key'), cert.key);
  writeFileSync(join(dir, 'federated.token'), federatedToken);
  // A delegated sign-in as `mailprobe login` leaves it; the key outside the state folder, as the docs advise.
  writeFileSync(join(dir, 'cache.key'), `${CACHE_KEY}\n`, { mode: 0o600 });
  const owner = { tenantId: bed.tenantId, clientId: bed.clientId, account: bed.mailbox };
  await writeCache(cacheFileFor(stateDir, owner), new Secret(CACHE_KEY), owner, {
    account: bed.mailbox,
    scopes: ['https://outlook.office.com/IMAP.AccessAsUser.All', 'offline_access'],
    refreshToken: new Secret(REFRESH_TOKEN),
    signedInAt: Date.now(),
    refreshedAt: Date.now(),
  });
  const endpoints = { imap: { host: imap.host, port: imap.port }, pop3: { host: pop3.host, port: pop3.port }, smtp: { host: smtp.host, port: smtp.port } };
  const config = {
    agent: { stateDir: 'state', tokenCacheKeyFile: 'cache.key' },
    defaults: { timeoutSeconds: 15, stepTimeoutSeconds: 5, schedule: '0 0 1 1 *', tls: { caFile: 'ca.pem' }, ...endpoints },
    tenants: {
      bed: {
        tenantId: bed.tenantId,
        clientId: bed.clientId,
        authorityHost: bed.entra.authorityHost,
        credential: { type: 'secret', secret: { file: 'bed.secret' } },
        credentialExpiryFromGraph: true,
        graphUrl: `https://${echoLogin}`,
      },
      echoSecret: { tenantId: bed.tenantId, clientId: bed.clientId, authorityHost: echoLogin, credential: { type: 'secret', secret: { file: 'echo.secret' } } },
      echoCert: {
        tenantId: bed.tenantId,
        clientId: bed.clientId,
        authorityHost: echoLogin,
        credential: { type: 'certificate', certFile: 'app.pem', keyFile: 'app.key' },
      },
      echoFederated: {
        tenantId: bed.tenantId,
        clientId: bed.clientId,
        authorityHost: echoLogin,
        credential: { type: 'federated', tokenFile: 'federated.token' },
      },
      echoManaged: {
        tenantId: bed.tenantId,
        clientId: bed.clientId,
        authorityHost: echoLogin,
        credential: { type: 'managedIdentity', clientId: '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a', endpoint: identity.imdsUrl },
      },
      echoDelegated: { tenantId: bed.tenantId, clientId: bed.clientId, authorityHost: echoLogin, credential: { type: 'delegated', account: bed.mailbox } },
    },
    monitors: [
      { name: 'leak-imap', tenant: 'bed', mailbox: bed.mailbox, checks: ['imap'] },
      { name: 'leak-pop3', tenant: 'bed', mailbox: bed.mailbox, checks: ['pop3'] },
      { name: 'leak-smtp', tenant: 'bed', mailbox: bed.mailbox, checks: ['smtp'], cleanup: false },
      { name: 'leak-secret', tenant: 'echoSecret', mailbox: bed.mailbox, checks: ['imap'] },
      { name: 'leak-assertion', tenant: 'echoCert', mailbox: bed.mailbox, checks: ['imap'] },
      { name: 'leak-federated', tenant: 'echoFederated', mailbox: bed.mailbox, checks: ['imap'] },
      { name: 'leak-managed', tenant: 'echoManaged', mailbox: bed.mailbox, checks: ['imap'] },
      { name: 'leak-delegated', tenant: 'echoDelegated', mailbox: bed.mailbox, checks: ['imap'] },
    ],
    alerting: {
      failureThreshold: 1,
      notifiers: [
        { type: 'webhook', name: 'hook', url: `${receiver}/webhook` },
        { type: 'teams', name: 'teams', url: `${receiver}/teams` },
        { type: 'slack', name: 'slack', url: `${receiver}/slack` },
        { type: 'alertmanager', name: 'am', url: `${receiver}/am` },
      ],
    },
  };
  writeFileSync(join(dir, 'monitors.json'), JSON.stringify(config, null, 2));
});

after(async () => {
  await agent?.stop();
  await Promise.allSettled(servers.map((server) => Promise.resolve(server.close())));
  await bed?.close();
});

describe('no credential reaches any output, whatever the servers echo', () => {
  test('the agent: logs, /api/status, /metrics, the state folder and every notifier payload', async () => {
    const [port] = await pickPorts(1);
    agent = await startAgentProcess(['--config', join(dir, 'monitors.json')], port ?? 0);
    const status = await agent.waitFor('every check failing', async () => {
      const answer = await agent!.get('/api/status');
      const checks = (JSON.parse(answer.body) as { checks: Array<{ state: string }> }).checks;
      return checks.length === 8 && checks.every((check) => check.state === 'failing') ? answer.body : undefined;
    });
    await agent.waitFor('a firing notification per check on every notifier', async () => {
      const paths = ['/webhook', '/teams', '/slack'];
      const counts = paths.map((path) => notifications.filter((n) => n.path === path).length);
      return counts.every((count) => count >= 8) && notifications.some((n) => n.path.startsWith('/am')) ? true : undefined;
    });
    await agent.waitFor('the Graph refusal in the log', async () => (agent!.output().includes('Microsoft Graph') ? true : undefined));

    // The hostile servers really did receive and echo each kind of credential.
    const kinds = [...seen];
    assert.ok(kinds.includes(ECHO_SECRET), 'the client secret was echoed');
    assert.ok(
      kinds.some((v) => v.startsWith('eyJ') && v.split('.').length === 3),
      'a JWT (assertion or access token) was echoed',
    );
    assert.ok(
      kinds.some((v) => v.startsWith('dXNlcj')),
      'an XOAUTH2 string was echoed',
    );
    assert.ok(kinds.includes(federatedToken), 'the federated token was sent as the assertion and echoed');
    assert.ok(identity.tokensIssued() > 0, 'a managed identity token was issued, sent and echoed');
    assert.ok(kinds.includes(REFRESH_TOKEN), 'the delegated refresh token was redeemed and echoed');

    assert.ok(agent.output().includes('"detail":"the login service refused the token request (HTTP 400)"'), 'log lines carry the failure detail');
    assertClean('the log', agent.output());
    assertClean('/api/status', status);
    assertClean('/metrics', await agent.metrics());
    // Alert state is saved a moment after the changes it batches (and fsynced), so wait for it before reading the folder.
    await agent.waitFor('the alert state file', async () => (filesUnder(stateDir).some((file) => file.endsWith('alert-state.json')) ? true : undefined));
    for (const file of filesUnder(stateDir)) assertClean(file, readFileSync(file, 'utf8'));
    for (const notification of notifications) assertClean(`the ${notification.path} notification`, notification.body);
    assert.match(status, /AADSTS900144: The proxy could not forward the request: .*\[redacted\]/, 'the echo is kept, masked');
    assert.match(status, /AUTHENTICATE failed for \[redacted\]/);

    // Every page and feed that shows a failure's words, and the report over HTTP: each answers, and none leaks.
    const pages = [
      '/status',
      '/status/detail',
      '/status/feed.atom',
      '/status/summary.json',
      '/status/badge/leak-secret/state.svg',
      '/status/badge/leak-secret/imap/uptime-24h.svg',
      '/api/report',
    ];
    for (const path of pages) {
      const answer = await agent.get(path);
      assert.equal(answer.status, 200, `${path} answers`);
      assertClean(path, answer.body);
    }
    assert.match((await agent.get('/status/detail')).body, /leak-secret/, '/status/detail shows the failing monitors');
    assert.match(
      (await agent.get('/status/detail')).body,
      /<p class="meta signin">Delegated sign-in of [^:<]+: signed in <time/,
      '/status/detail shows the delegated sign-in (the clean check above: without its refresh token or the cache key)',
    );
    const report = JSON.parse((await agent.get('/api/report')).body) as unknown;
    assert.ok(JSON.stringify(report).includes('leak-federated'), '/api/report covers the failing checks');
  });

  test('the history the agent kept holds the failures, and `mailprobe report` in every format leaks nothing', async () => {
    // Stopped first, so the store is flushed and the CLI reads it alone.
    await agent?.stop();
    agent = undefined;
    const rows = await runCli(['report', '--format', 'json', '--config', join(dir, 'monitors.json')]);
    assert.equal(rows.code, 0, rows.stderr);
    for (const monitor of ['leak-imap', 'leak-secret', 'leak-assertion', 'leak-federated', 'leak-managed', 'leak-delegated']) {
      assert.ok(rows.stdout.includes(monitor), `the history has rows of ${monitor}`);
    }
    assert.match(rows.stdout, /"incidents"/);
    for (const format of ['text', 'md', 'csv', 'json', 'html']) {
      const out = await runCli(['report', '--format', format, '--config', join(dir, 'monitors.json')]);
      assert.equal(out.code, 0, `report --format ${format}: ${out.stderr}`);
      assert.ok(out.stdout.length > 0, `report --format ${format} prints a report`);
      assertClean(`report --format ${format}`, out.stdout + out.stderr);
    }
    // The store as the stopped agent left it (the running agent's files were read above, mid-write).
    for (const file of filesUnder(stateDir)) assertClean(file, readFileSync(file).toString('latin1'));
  });

  test('the agent with pretty (terminal) logs', async () => {
    const [port] = await pickPorts(1);
    const pretty = await startAgentProcess(['--config', join(dir, 'monitors.json'), '--log-format', 'pretty'], port ?? 0);
    try {
      await pretty.waitFor('every check failing', async () => {
        const checks = (JSON.parse((await pretty.get('/api/status')).body) as { checks: Array<{ state: string; lastRunAt?: unknown }> }).checks;
        return checks.length === 8 && checks.every((check) => check.state === 'failing') ? true : undefined;
      });
      await pretty.waitFor('a failure in the log', async () => (/AUTHENTICATE failed/.test(pretty.output()) ? true : undefined));
      assert.doesNotMatch(pretty.output(), /^\{"level"/m, 'the log is pretty, not JSON');
      assertClean('the pretty log', pretty.output());
    } finally {
      await pretty.stop();
    }
  });

  test('`mailprobe check`, as text and as JSON', async () => {
    const text = await runCli(['check', '--config', join(dir, 'monitors.json')]);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /leak-assertion/);
    assert.match(text.stdout, /leak-federated/);
    assert.match(text.stdout, /leak-managed/);
    assert.match(text.stdout, /leak-delegated/);
    assertClean('check output', text.stdout + text.stderr);
    const json = await runCli(['check', '--json', '--config', join(dir, 'monitors.json')]);
    assert.equal(json.code, 1);
    assertClean('check --json output', json.stdout + json.stderr);
  });
});
