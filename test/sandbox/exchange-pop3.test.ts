import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSandbox, WireClient, xoauth2, type Sandbox } from './exchange-harness.js';

const GREETING_TAG = Buffer.from('AM0PR06CA0126.EURPRD06.PROD.OUTLOOK.COM', 'utf16le').toString('base64');
const END = /^\.$/;
const AUTH_FAILED = '-ERR Authentication failure: unknown user name or bad password.';

describe('Exchange emulator: POP3', () => {
  let sandbox: Sandbox;
  const clients: WireClient[] = [];
  const connect = async (): Promise<WireClient> => {
    const client = await WireClient.connect(sandbox.emulator.pop3.port, sandbox.pki.ca.cert);
    clients.push(client);
    await client.line();
    return client;
  };
  const authenticate = async (client: WireClient, token: string): Promise<string> => {
    assert.deepEqual(await client.exchange('AUTH XOAUTH2', '+'), ['+ ']);
    client.send(xoauth2(sandbox.mailbox, token));
    return client.line();
  };

  before(async () => {
    sandbox = await startSandbox();
  });
  after(async () => {
    for (const client of clients) client.close();
    await sandbox.close();
  });

  test('greets, lists CAPA and authenticates with the two-step XOAUTH2', async () => {
    const client = await WireClient.connect(sandbox.emulator.pop3.port, sandbox.pki.ca.cert);
    clients.push(client);
    assert.equal(await client.line(), `+OK The Microsoft Exchange POP3 service is ready. [${GREETING_TAG}]`);
    assert.deepEqual(await client.exchange('CAPA', END), ['+OK', 'TOP', 'UIDL', 'SASL PLAIN XOAUTH2', 'USER', '.']);
    assert.equal(await authenticate(client, sandbox.token()), '+OK User successfully authenticated.');
    assert.match(await client.exchange('STAT', '+OK').then((lines) => lines[0]!), /^\+OK \d+ \d+$/);
    assert.deepEqual(await client.exchange('QUIT', '+OK'), ['+OK Microsoft Exchange Server POP3 server signing off.']);
    assert.equal(await client.closes(), true);
  });

  test('the one-line SASL-IR form is a protocol error and the connection closes', async () => {
    const client = await connect();
    assert.deepEqual(await client.exchange(`AUTH XOAUTH2 ${xoauth2(sandbox.mailbox, sandbox.token())}`, '-ERR'), [
      '-ERR Protocol error. Connection is closed. 10',
    ]);
    assert.equal(await client.closes(), true);
  });

  test('every denial reads the same: expired token, missing role, POP disabled, basic auth', async (t) => {
    const mailbox = sandbox.model.mailbox(sandbox.tenantId, sandbox.mailbox);
    t.after(() => {
      mailbox.popEnabled = true;
    });
    const client = await connect();
    assert.equal(await authenticate(client, 'not-a-jwt'), AUTH_FAILED);
    mailbox.popEnabled = false;
    assert.equal(await authenticate(client, sandbox.token()), AUTH_FAILED);
    assert.deepEqual(await client.exchange('AUTH PLAIN', '+'), ['+ ']);
    assert.deepEqual(await client.exchange('AHByb2JlAHNlY3JldA==', '-ERR'), [AUTH_FAILED]);
    assert.deepEqual(await client.exchange('STAT', '-ERR'), ['-ERR Command is not valid in this state.']);
  });

  test('STAT, LIST, UIDL, TOP, RETR and DELE; deletion applies at QUIT only', async () => {
    const inbox = sandbox.emulator.store.mailbox(sandbox.mailbox).inbox;
    const first = inbox.append(Buffer.from('Subject: one\r\n\r\nbody one\r\n.leading dot\r\n'));
    const second = inbox.append(Buffer.from('Subject: two\r\n\r\nline 1\r\nline 2\r\n'));
    const client = await connect();
    assert.equal(await authenticate(client, sandbox.token()), '+OK User successfully authenticated.');
    const count = inbox.messages.length;
    const n = count - 1; // sequence number of `first`
    assert.equal((await client.exchange(`UIDL ${n}`, '+OK'))[0], `+OK ${n} ${inbox.uidValidity}.${first.uid}`);
    assert.deepEqual(await client.exchange(`LIST ${count}`, '+OK'), [`+OK ${count} ${second.raw.length}`]);
    assert.deepEqual(await client.exchange(`RETR ${n}`, END), ['+OK', 'Subject: one', '', 'body one', '..leading dot', '.']);
    assert.deepEqual(await client.exchange(`TOP ${count} 1`, END), ['+OK', 'Subject: two', '', 'line 1', '.']);
    assert.deepEqual(await client.exchange(`DELE ${n}`, '+OK'), ['+OK']);
    assert.deepEqual(await client.exchange(`RETR ${n}`, '-ERR'), ['-ERR The specified message is out of range.']);
    assert.ok(inbox.byUid(first.uid), 'still there before QUIT');
    await client.exchange('QUIT', '+OK');
    assert.equal(await client.closes(), true);
    assert.equal(inbox.byUid(first.uid), undefined);
    assert.ok(inbox.byUid(second.uid));
  });

  test('hang fault: no greeting', async (t) => {
    sandbox.model.faults.hang.pop3 = true;
    t.after(() => {
      sandbox.model.faults.hang.pop3 = false;
    });
    const client = await WireClient.connect(sandbox.emulator.pop3.port, sandbox.pki.ca.cert);
    clients.push(client);
    assert.equal(await client.silentFor(300), true);
  });
});
