import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, beforeEach, describe, test } from 'node:test';
import { GRAPH_AUDIENCE } from '../../src/sandbox/model.js';
import { startSandbox, type Sandbox } from './exchange-harness.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: () => { error?: { code: string; message: string }; value?: Array<Record<string, unknown>>; '@odata.nextLink'?: string };
}

function call(sandbox: Sandbox, method: string, path: string, options: { token?: string; body?: unknown } = {}): Promise<Reply> {
  const url = new URL(path, sandbox.emulator.graph.url);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: sandbox.pki.ca.cert,
        servername: 'localhost',
        headers: {
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(payload ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as ReturnType<Reply['json']> });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function probeMail(to: string, headers = [{ name: 'X-Mailprobe-Id', value: 'id-1' }]): unknown {
  return {
    message: {
      subject: 'mailprobe graph',
      body: { contentType: 'Text', content: 'probe' },
      toRecipients: [{ emailAddress: { address: to } }],
      internetMessageHeaders: headers,
      internetMessageId: '<mailprobe.id-1@mailprobe.invalid>',
    },
    saveToSentItems: false,
  };
}

describe('Exchange emulator: Microsoft Graph mail', () => {
  let sandbox: Sandbox;
  let graphToken: () => string;
  before(async () => {
    sandbox = await startSandbox();
    graphToken = () =>
      sandbox.model.issueAccessToken({
        tenantId: sandbox.tenantId,
        clientId: sandbox.clientId,
        audience: GRAPH_AUDIENCE,
        resource: 'graph',
        credential: 'secret',
      });
  });
  after(() => sandbox.close());
  beforeEach(() => {
    sandbox.model.resetFaults();
    sandbox.model.setRoles(sandbox.tenantId, sandbox.clientId, ['Application.Read.All', 'Mail.Send', 'Mail.ReadWrite'], 'graph');
    sandbox.model.removeRoleAssignment(sandbox.tenantId, sandbox.clientId);
    for (const folder of sandbox.emulator.store.mailbox(sandbox.mailbox).folders) folder.remove(() => true);
  });

  const inbox = (): string => `/v1.0/users/${sandbox.mailbox}/mailFolders/inbox/messages`;

  test('sendMail answers 202; the message reaches the INBOX that IMAP serves, with its x- header, and no Sent Items copy when asked', async () => {
    const sent = await call(sandbox, 'POST', `/v1.0/users/${sandbox.mailbox}/sendMail`, { token: graphToken(), body: probeMail(sandbox.mailbox) });
    assert.equal(sent.status, 202);
    assert.equal(sent.body, '');
    const box = sandbox.emulator.store.mailbox(sandbox.mailbox);
    assert.equal(box.inbox.messages.length, 1);
    assert.equal(box.folder('Sent Items')!.messages.length, 0);
    const raw = box.inbox.messages[0]!.raw.toString('utf8');
    assert.match(raw, /\r\nX-Mailprobe-Id: id-1\r\n/);
    assert.match(raw, /\r\nMessage-ID: <mailprobe\.id-1@mailprobe\.invalid>\r\n/);
  });

  test('the list filters by receivedDateTime, shows internetMessageHeaders when selected, pages with @odata.nextLink; DELETE removes one message by id', async () => {
    const box = sandbox.emulator.store.mailbox(sandbox.mailbox);
    const old = new Date(Date.now() - 3_600_000);
    box.inbox.append(Buffer.from('Subject: seeded old\r\nX-Mailprobe-Id: id-1\r\n\r\nkeep\r\n'), { internalDate: old });
    for (let n = 0; n < 3; n += 1) box.inbox.append(Buffer.from(`Subject: seeded ${n}\r\nX-Other: ${n}\r\n\r\nkeep\r\n`));
    const since = new Date(Date.now() - 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const query = `?$filter=receivedDateTime ge ${since}&$select=id,internetMessageHeaders&$top=2`;
    const first = await call(sandbox, 'GET', `${inbox()}${query}`, { token: graphToken() });
    assert.equal(first.status, 200);
    const page1 = first.json();
    assert.equal(page1.value?.length, 2);
    assert.ok(Array.isArray(page1.value?.[0]?.internetMessageHeaders), 'headers are shown when selected');
    const nextLink = page1['@odata.nextLink'];
    assert.ok(nextLink);
    const second = (await call(sandbox, 'GET', nextLink, { token: graphToken() })).json();
    assert.equal(second.value?.length, 1, 'the hour-old message is filtered out');
    assert.equal(second['@odata.nextLink'], undefined);

    const id = String(second.value?.[0]?.id);
    const deleted = await call(sandbox, 'DELETE', `/v1.0/users/${sandbox.mailbox}/messages/${id}`, { token: graphToken() });
    assert.equal(deleted.status, 204);
    assert.equal(box.inbox.messages.length, 3, 'exactly one message is gone');
    const again = await call(sandbox, 'DELETE', `/v1.0/users/${sandbox.mailbox}/messages/${id}`, { token: graphToken() });
    assert.equal(again.status, 404);
    assert.deepEqual(
      { code: again.json().error?.code, message: again.json().error?.message },
      { code: 'ErrorItemNotFound', message: 'The specified object was not found in the store.' },
    );
  });

  test("sendMail's own validation: a header without x-, no recipients, no JSON", async () => {
    const badHeader = await call(sandbox, 'POST', `/v1.0/users/${sandbox.mailbox}/sendMail`, {
      token: graphToken(),
      body: probeMail(sandbox.mailbox, [{ name: 'Mailprobe-Id', value: 'x' }]),
    });
    assert.equal(badHeader.status, 400);
    assert.equal(badHeader.json().error?.message, "The internet message header name 'Mailprobe-Id' should start with 'x-' or 'X-'.");
    const none = await call(sandbox, 'POST', `/v1.0/users/${sandbox.mailbox}/sendMail`, { token: graphToken(), body: { message: { subject: 's' } } });
    assert.equal(none.json().error?.code, 'ErrorInvalidRecipients');
    const empty = await call(sandbox, 'POST', `/v1.0/users/${sandbox.mailbox}/sendMail`, { token: graphToken() });
    assert.equal(empty.json().error?.message, 'Empty Payload. JSON content expected.');
    assert.equal(sandbox.emulator.store.mailbox(sandbox.mailbox).inbox.messages.length, 0);
  });

  test('tokens: none, an Exchange audience, expired', async () => {
    const none = await call(sandbox, 'GET', inbox());
    assert.deepEqual([none.status, none.json().error?.message], [401, 'Access token is empty.']);
    const exchange = await call(sandbox, 'GET', inbox(), { token: sandbox.token() });
    assert.deepEqual([exchange.status, exchange.json().error?.message], [401, 'Access token validation failure. Invalid audience.']);
  });

  test('Entra permissions: none at all, none for mail, read-only cannot send; Mail.ReadBasic hides the headers', async () => {
    sandbox.model.setRoles(sandbox.tenantId, sandbox.clientId, [], 'graph');
    const none = await call(sandbox, 'GET', inbox(), { token: graphToken() });
    assert.deepEqual([none.status, none.json().error?.code], [403, 'NoPermissionsInAccessToken']);
    sandbox.model.setRoles(sandbox.tenantId, sandbox.clientId, ['Application.Read.All'], 'graph');
    const other = await call(sandbox, 'GET', inbox(), { token: graphToken() });
    assert.deepEqual(
      [other.status, other.json().error?.code, other.json().error?.message],
      [403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.'],
    );
    sandbox.model.setRoles(sandbox.tenantId, sandbox.clientId, ['Mail.ReadBasic.All'], 'graph');
    const send = await call(sandbox, 'POST', `/v1.0/users/${sandbox.mailbox}/sendMail`, { token: graphToken(), body: probeMail(sandbox.mailbox) });
    assert.equal(send.status, 403);
    sandbox.emulator.store.mailbox(sandbox.mailbox).inbox.append(Buffer.from('Subject: s\r\nX-A: 1\r\n\r\nb\r\n'));
    const basic = (await call(sandbox, 'GET', `${inbox()}?$select=id,internetMessageHeaders`, { token: graphToken() })).json();
    assert.equal(basic.value?.length, 1);
    assert.equal(basic.value?.[0]?.internetMessageHeaders, undefined);
  });

  test('RBAC for Applications: Application Mail.Send over a scope holding the mailbox sends with a token without mail roles; outside the scope it is refused', async () => {
    sandbox.model.setRoles(sandbox.tenantId, sandbox.clientId, [], 'graph');
    sandbox.model.setManagementScope(sandbox.tenantId, 'graph-probe', [sandbox.mailbox]);
    sandbox.model.assignRole(sandbox.tenantId, sandbox.clientId, 'Application Mail.Send', 'graph-probe');
    const inside = await call(sandbox, 'POST', `/v1.0/users/${sandbox.mailbox}/sendMail`, { token: graphToken(), body: probeMail(sandbox.mailbox) });
    assert.equal(inside.status, 202);
    sandbox.model.setManagementScope(sandbox.tenantId, 'graph-probe', []);
    const outside = await call(sandbox, 'POST', `/v1.0/users/${sandbox.mailbox}/sendMail`, { token: graphToken(), body: probeMail(sandbox.mailbox) });
    assert.deepEqual([outside.status, outside.json().error?.code], [403, 'ErrorAccessDenied']);
  });

  test('faults: application access policy, mailbox not enabled for REST, unknown mailbox, throttling with Retry-After', async () => {
    sandbox.model.faults.graphOdataDisabled = [sandbox.mailbox.toUpperCase()];
    const odata = await call(sandbox, 'GET', inbox(), { token: graphToken() });
    assert.deepEqual([odata.status, odata.json().error?.code, odata.json().error?.message], [403, 'ErrorAccessDenied', 'Access to OData is disabled.']);
    sandbox.model.resetFaults();
    sandbox.model.faults.graphRestDisabled = [sandbox.mailbox];
    const rest = await call(sandbox, 'GET', inbox(), { token: graphToken() });
    assert.deepEqual(
      [rest.status, rest.json().error?.code, rest.json().error?.message],
      [404, 'MailboxNotEnabledForRESTAPI', 'The mailbox is either inactive, soft-deleted, or is hosted on-premise.'],
    );
    sandbox.model.resetFaults();
    const unknownSend = await call(sandbox, 'POST', '/v1.0/users/nobody@contoso.onmicrosoft.com/sendMail', {
      token: graphToken(),
      body: probeMail(sandbox.mailbox),
    });
    assert.deepEqual([unknownSend.status, unknownSend.json().error?.code], [404, 'ErrorInvalidUser']);
    const unknownList = await call(sandbox, 'GET', '/v1.0/users/nobody@contoso.onmicrosoft.com/messages', { token: graphToken() });
    assert.deepEqual([unknownList.status, unknownList.json().error?.code], [404, 'ResourceNotFound']);
    sandbox.model.faults.graphThrottleSeconds = 7;
    const throttled = await call(sandbox, 'GET', inbox(), { token: graphToken() });
    assert.deepEqual(
      [throttled.status, throttled.headers['retry-after'], throttled.json().error?.code, throttled.json().error?.message],
      [429, '7', 'ApplicationThrottled', 'Application is over its MailboxConcurrency limit.'],
    );
  });

  test('MailboxConcurrency: a fifth request of one app to one mailbox while four are running gets 429', async () => {
    sandbox.model.faults.graphLatencyMs = 1500;
    const replies = await Promise.all(Array.from({ length: 6 }, () => call(sandbox, 'GET', inbox(), { token: graphToken() })));
    const statuses = replies.map((reply) => reply.status).sort();
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    assert.equal(sandbox.emulator.graph.peakConcurrency(), 4);
  });
});
