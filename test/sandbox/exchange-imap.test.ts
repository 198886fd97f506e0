import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startExchange, type ExchangeEmulator } from '../../src/sandbox/exchange.js';
import type { MailLoginDenial } from '../../src/sandbox/model.js';
import { scriptedModel, startSandbox, testPki, WireClient, xoauth2, type Sandbox } from './exchange-harness.js';

const GREETING_TAG = Buffer.from('AM0PR06CA0126.EURPRD06.PROD.OUTLOOK.COM', 'utf16le').toString('base64');
const DENIALS: MailLoginDenial[] = [
  'token_malformed',
  'token_expired',
  'wrong_audience',
  'unknown_tenant',
  'role_missing',
  'no_service_principal',
  'unknown_mailbox',
  'no_full_access',
  'protocol_disabled',
  'smtp_auth_disabled_tenant',
  'smtp_auth_disabled_mailbox',
];

describe('Exchange emulator: IMAP', () => {
  let sandbox: Sandbox;
  const clients: WireClient[] = [];
  const connect = async (): Promise<WireClient> => {
    const client = await WireClient.connect(sandbox.emulator.imap.port, sandbox.pki.ca.cert);
    clients.push(client);
    return client;
  };
  const login = async (): Promise<WireClient> => {
    const client = await connect();
    await client.line();
    assert.deepEqual(await client.exchange(`A1 AUTHENTICATE XOAUTH2 ${xoauth2(sandbox.mailbox, sandbox.token())}`, 'A1 '), ['A1 OK AUTHENTICATE completed.']);
    return client;
  };

  before(async () => {
    sandbox = await startSandbox();
  });
  after(async () => {
    for (const client of clients) client.close();
    await sandbox.close();
  });

  test('greets and lists capabilities byte for byte, before and after login', async () => {
    const client = await connect();
    assert.equal(await client.line(), `* OK The Microsoft Exchange IMAP4 service is ready. [${GREETING_TAG}]`);
    assert.equal(Buffer.from(GREETING_TAG, 'base64').toString('utf16le'), 'AM0PR06CA0126.EURPRD06.PROD.OUTLOOK.COM');
    assert.deepEqual(await client.exchange('C01 CAPABILITY', 'C01 '), [
      '* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+',
      'C01 OK CAPABILITY completed.',
    ]);
    assert.deepEqual(await client.exchange(`C02 AUTHENTICATE XOAUTH2 ${xoauth2(sandbox.mailbox, sandbox.token())}`, 'C02 '), [
      'C02 OK AUTHENTICATE completed.',
    ]);
    assert.deepEqual(await client.exchange('C03 CAPABILITY', 'C03 '), [
      '* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CLIENTACCESSRULES ' +
        'CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE CHILDREN IDLE NAMESPACE LITERAL+',
      'C03 OK CAPABILITY completed.',
    ]);
    assert.deepEqual(await client.exchange('C04 LOGOUT', 'C04 '), ['* BYE Microsoft Exchange Server IMAP4 server signing off.', 'C04 OK LOGOUT completed.']);
    assert.equal(await client.closes(), true);
  });

  test('accepts the two-step AUTHENTICATE form', async () => {
    const client = await connect();
    await client.line();
    assert.deepEqual(await client.exchange('A1 AUTHENTICATE XOAUTH2', '+'), ['+ ']);
    assert.deepEqual(await client.exchange(xoauth2(sandbox.mailbox, sandbox.token()), 'A1 '), ['A1 OK AUTHENTICATE completed.']);
  });

  test('refuses a token without the IMAP role with the generic NO, at once', async (t) => {
    sandbox.model.setRoles(sandbox.tenantId, sandbox.clientId, ['SMTP.SendAsApp']);
    t.after(() => sandbox.model.setRoles(sandbox.tenantId, sandbox.clientId, ['IMAP.AccessAsApp', 'POP.AccessAsApp', 'SMTP.SendAsApp']));
    const client = await connect();
    await client.line();
    assert.deepEqual(await client.exchange(`A1 AUTHENTICATE XOAUTH2 ${xoauth2(sandbox.mailbox, sandbox.token())}`, 'A1 '), ['A1 NO AUTHENTICATE failed.']);
    assert.deepEqual(await client.exchange('A2 LOGIN probe secret', 'A2 '), ['A2 NO LOGIN failed.']);
    assert.deepEqual(await client.exchange('A3 AUTHENTICATE PLAIN AHVzZXIAcGFzcw==', 'A3 '), ['A3 NO AUTHENTICATE failed.']);
    assert.deepEqual(await client.exchange('A4 AUTHENTICATE XOAUTH2 bm90IHNhc2w=', 'A4 '), ['A4 NO AUTHENTICATE failed.']);
  });

  test('answers NAMESPACE, LIST and STATUS like Exchange', async () => {
    const client = await login();
    assert.deepEqual(await client.exchange('B1 NAMESPACE', 'B1 '), ['* NAMESPACE (("" "/")) NIL NIL', 'B1 OK NAMESPACE completed.']);
    assert.deepEqual(await client.exchange('B2 LIST "" "*"', 'B2 '), [
      '* LIST (\\HasNoChildren \\Archive) "/" Archive',
      '* LIST (\\HasNoChildren \\Trash) "/" "Deleted Items"',
      '* LIST (\\HasNoChildren \\Drafts) "/" Drafts',
      '* LIST (\\HasNoChildren) "/" INBOX',
      '* LIST (\\HasNoChildren \\Junk) "/" "Junk Email"',
      '* LIST (\\HasNoChildren) "/" Outbox',
      '* LIST (\\HasNoChildren \\Sent) "/" "Sent Items"',
      'B2 OK LIST completed.',
    ]);
    assert.deepEqual(await client.exchange('B3 LIST "" "Sent%"', 'B3 '), ['* LIST (\\HasNoChildren \\Sent) "/" "Sent Items"', 'B3 OK LIST completed.']);
    const status = await client.exchange('B4 STATUS inbox (MESSAGES UIDNEXT)', 'B4 ');
    assert.match(status[0]!, /^\* STATUS INBOX \(MESSAGES \d+ UIDNEXT \d+\)$/);
    assert.equal(status[1], 'B4 OK STATUS completed.');
    assert.deepEqual(await client.exchange('B5 SELECT Nowhere', 'B5 '), ['B5 NO The specified folder could not be found in the store.']);
    assert.deepEqual(await client.exchange('B6 FETCH 1 FLAGS', 'B6 '), ['B6 BAD Command received in Invalid state.']);
    assert.deepEqual(await client.exchange('B7 FROBNICATE', 'B7 '), ['B7 BAD Command Error. 10']);
    assert.deepEqual(await client.exchange('B8 ID ("name" "imapflow")', 'B8 '), ['* ID NIL', 'B8 OK ID completed.']);
  });

  test('takes literals, synchronising and LITERAL+', async () => {
    const client = await login();
    assert.deepEqual(await client.exchange('L1 LIST "" {5}', '+'), ['+ Ready for additional command text.']);
    assert.deepEqual(await client.exchange('INBOX', 'L1 '), ['* LIST (\\HasNoChildren) "/" INBOX', 'L1 OK LIST completed.']);
    client.send('L2 STATUS {10+}');
    assert.deepEqual(await client.exchange('Sent Items (UIDVALIDITY)', 'L2 '), [
      `* STATUS "Sent Items" (UIDVALIDITY ${sandbox.emulator.store.mailbox(sandbox.mailbox).folder('Sent Items')!.uidValidity})`,
      'L2 OK STATUS completed.',
    ]);
  });

  test('throttling fault: NO Request is throttled with the backoff', async (t) => {
    sandbox.model.faults.imapThrottleMs = 299609;
    t.after(() => {
      sandbox.model.faults.imapThrottleMs = null;
    });
    const client = await connect();
    await client.line();
    assert.deepEqual(await client.exchange(`T1 AUTHENTICATE XOAUTH2 ${xoauth2(sandbox.mailbox, sandbox.token())}`, 'T1 '), [
      'T1 NO Request is throttled. Suggested Backoff Time: 299609 milliseconds',
    ]);
  });

  test('not-connected fault: login succeeds, the first mailbox command gets BAD and BYE', async (t) => {
    sandbox.model.faults.imapNotConnected = true;
    t.after(() => {
      sandbox.model.faults.imapNotConnected = false;
    });
    const client = await login();
    assert.deepEqual(await client.exchange('N1 NAMESPACE', 'N1 '), ['N1 BAD User is authenticated but not connected.']);
    assert.equal(await client.line(), '* BYE Connection closed. 14');
    assert.equal(await client.closes(), true);
  });

  test('hang fault: silent after connect, while other protocols still answer', async (t) => {
    sandbox.model.faults.hang.imap = true;
    t.after(() => {
      sandbox.model.faults.hang.imap = false;
    });
    const hung = await connect();
    const pop = await WireClient.connect(sandbox.emulator.pop3.port, sandbox.pki.ca.cert);
    clients.push(pop);
    assert.match(await pop.line(), /^\+OK The Microsoft Exchange POP3 service is ready\./);
    assert.equal(await hung.silentFor(300), true);
    sandbox.model.faults.hang.imap = false;
    const fresh = await connect();
    assert.match(await fresh.line(), /^\* OK The Microsoft Exchange IMAP4 service is ready\./);
    assert.equal(await hung.silentFor(50), true);
  });

  test('many concurrent sessions log in and list', async () => {
    const sessions = await Promise.all(
      Array.from({ length: 40 }, async (_, n) => {
        const client = await login();
        const lines = await client.exchange(`M${n} LIST "" INBOX`, `M${n} `);
        return lines.at(-1);
      }),
    );
    assert.deepEqual(
      sessions,
      Array.from({ length: 40 }, (_, n) => `M${n} OK LIST completed.`),
    );
  });
});

describe('Exchange emulator: IMAP denials', () => {
  const model = scriptedModel();
  let emulator: ExchangeEmulator;
  let ca: string;

  before(async () => {
    const pki = await testPki();
    ca = pki.ca.cert;
    emulator = await startExchange({ model, tls: pki.server });
  });
  after(() => emulator.close());

  for (const why of DENIALS) {
    test(`${why} → NO AUTHENTICATE failed.`, async () => {
      model.decision = { ok: false, why };
      const client = await WireClient.connect(emulator.imap.port, ca);
      try {
        await client.line();
        assert.deepEqual(await client.exchange(`A1 AUTHENTICATE XOAUTH2 ${xoauth2('probe@contoso.com', 'x')}`, 'A1 '), ['A1 NO AUTHENTICATE failed.']);
      } finally {
        client.close();
      }
    });
  }

  test('idle sockets are closed (IMAP says BYE, SMTP 421); an overlong command line is refused', async () => {
    const pki = await testPki();
    // Idle means a second without a command; the busy session below speaks every quarter of a second.
    const own = await startExchange({ model, tls: pki.server, idleTimeoutMs: 1000 });
    try {
      const imap = await WireClient.connect(own.imap.port, ca);
      const smtp = await WireClient.connect(own.smtp.port);
      await imap.line();
      await smtp.line();
      assert.equal(await imap.line(30_000), '* BYE Connection closed. 14');
      assert.equal(await smtp.line(30_000), '421 4.4.1 Connection timed out');
      assert.equal(await imap.closes(), true);
      // A busy session outlives the idle timeout, also after STARTTLS moved it onto a new socket.
      const busy = await WireClient.connect(own.smtp.port);
      await busy.line();
      await busy.exchange('STARTTLS', '220');
      await busy.startTls(ca);
      for (let i = 0; i < 6; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        assert.deepEqual(await busy.exchange('NOOP', '250'), ['250 2.0.0 OK']);
      }
      assert.equal(await busy.line(30_000), '421 4.4.1 Connection timed out');
      assert.equal(await busy.closes(), true);
      const long = await WireClient.connect(own.imap.port, ca);
      await long.line();
      long.send(`L1 SEARCH HEADER Subject ${'x'.repeat(40_000)}`);
      assert.equal(await long.line(), '* BAD Command Error. 10');
      assert.equal(await long.closes(), true);
    } finally {
      await own.close();
    }
  });

  test('close() drops open sessions promptly', async () => {
    const pki = await testPki();
    const own = await startExchange({ model, tls: pki.server });
    const client = await WireClient.connect(own.imap.port, ca);
    await client.line();
    // The session is open and idle (the idle timeout is minutes away), so only close() can end it.
    await own.close();
    assert.equal(await client.closes(), true);
  });
});
