import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startExchange, type ExchangeEmulator } from '../../src/sandbox/exchange.js';
import type { MailLoginDenial } from '../../src/sandbox/model.js';
import { BRACKET, scriptedModel, startSandbox, testPki, WireClient, xoauth2, type Sandbox } from './exchange-harness.js';

const EHLO_COMMON = ['SIZE 157286400', 'PIPELINING', 'DSN', 'ENHANCEDSTATUSCODES'];
const EHLO_TAIL = ['8BITMIME', 'BINARYMIME', 'CHUNKING'];
const HOSTNAME = '[Hostname=AM0PR06CA0126.EURPRD06.PROD.OUTLOOK.COM]';

function ehloLines(middle: string): string[] {
  const lines = ['AM0PR06CA0126.outlook.office365.com Hello [127.0.0.1]', ...EHLO_COMMON, middle, ...EHLO_TAIL];
  return [...lines.map((line) => `250-${line}`), '250 SMTPUTF8'];
}

/** Greeting, EHLO, STARTTLS, EHLO again: the state every submission starts from. */
async function secureSession(port: number, ca: string): Promise<WireClient> {
  const client = await WireClient.connect(port);
  await client.line();
  await client.exchange('EHLO probe.example', '250 ');
  assert.deepEqual(await client.exchange('STARTTLS', '220'), ['220 2.0.0 SMTP server ready']);
  await client.startTls(ca);
  assert.deepEqual(await client.exchange('EHLO probe.example', '250 '), ehloLines('AUTH LOGIN XOAUTH2'));
  return client;
}

describe('Exchange emulator: SMTP', () => {
  let sandbox: Sandbox;
  const clients: WireClient[] = [];
  const session = async (): Promise<WireClient> => {
    const client = await secureSession(sandbox.emulator.smtp.port, sandbox.pki.ca.cert);
    clients.push(client);
    return client;
  };
  const authenticated = async (): Promise<WireClient> => {
    const client = await session();
    assert.deepEqual(await client.exchange(`AUTH XOAUTH2 ${xoauth2(sandbox.mailbox, sandbox.token())}`, '2'), ['235 2.7.0 Authentication successful']);
    return client;
  };

  before(async () => {
    sandbox = await startSandbox();
  });
  after(async () => {
    for (const client of clients) client.close();
    await sandbox.close();
  });

  test('banner, EHLO before TLS, AUTH before STARTTLS refused, then the two-step XOAUTH2', async () => {
    const client = await WireClient.connect(sandbox.emulator.smtp.port);
    clients.push(client);
    assert.match(
      await client.line(),
      /^220 AM0PR06CA0126\.outlook\.office365\.com Microsoft ESMTP MAIL Service ready at \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000 \[[0-9A-F]{16}\]$/,
    );
    assert.deepEqual(await client.exchange('EHLO probe.example', '250 '), ehloLines('STARTTLS'));
    const refused = await client.exchange(`AUTH XOAUTH2 ${xoauth2(sandbox.mailbox, sandbox.token())}`, '5');
    assert.equal(refused.length, 1);
    assert.match(refused[0]!, /^504 5\.7\.4 Unrecognized authentication type \[/);
    assert.match(refused[0]!, BRACKET);
    assert.deepEqual(await client.exchange('STARTTLS', '220'), ['220 2.0.0 SMTP server ready']);
    await client.startTls(sandbox.pki.ca.cert);
    assert.deepEqual(await client.exchange('EHLO probe.example', '250 '), ehloLines('AUTH LOGIN XOAUTH2'));
    assert.deepEqual(await client.exchange('AUTH XOAUTH2', '334'), ['334 ']);
    assert.deepEqual(await client.exchange(xoauth2(sandbox.mailbox, sandbox.token()), '2'), ['235 2.7.0 Authentication successful']);
    assert.deepEqual(await client.exchange('QUIT', '221'), ['221 2.0.0 Service closing transmission channel']);
    assert.equal(await client.closes(), true);
  });

  test('submits to itself: Sender OK, Recipient OK, OK <msgid> [Hostname=…]', async () => {
    const client = await authenticated();
    assert.deepEqual(await client.exchange(`MAIL FROM:<${sandbox.mailbox}>`, '2'), ['250 2.1.0 Sender OK']);
    assert.deepEqual(await client.exchange(`RCPT TO:<${sandbox.mailbox}>`, '2'), ['250 2.1.5 Recipient OK']);
    assert.deepEqual(await client.exchange('DATA', '354'), ['354 Start mail input; end with <CRLF>.<CRLF>']);
    client.send(`From: ${sandbox.mailbox}\r\nSubject: hi\r\nX-Mailprobe-Id: smtp-1\r\n\r\n..dot\r\n.`);
    const [accepted] = await client.until('250');
    assert.match(accepted!, /^250 2\.0\.0 OK <AM0PR06CA0126[0-9A-F]{12}@AM0PR06CA0126\.eurprd06\.prod\.outlook\.com> /);
    assert.ok(accepted!.endsWith(` ${HOSTNAME}`));
    const inbox = sandbox.emulator.store.mailbox(sandbox.mailbox).inbox;
    const delivered = inbox.messages.at(-1)!.raw.toString();
    assert.match(delivered, /^Message-ID: <AM0PR06CA0126/);
    assert.ok(delivered.endsWith('X-Mailprobe-Id: smtp-1\r\n\r\n.dot\r\n'));
  });

  test('refuses basic auth, unauthenticated MAIL and a foreign sender', async () => {
    const client = await session();
    const unauthenticated = await client.exchange(`MAIL FROM:<${sandbox.mailbox}>`, '5');
    assert.match(unauthenticated[0]!, /^530 5\.7\.57 Client not authenticated to send mail\. \[/);
    assert.match(unauthenticated[0]!, BRACKET);
    assert.deepEqual(await client.exchange('AUTH LOGIN', '334'), ['334 VXNlcm5hbWU6']);
    assert.deepEqual(await client.exchange('cHJvYmU=', '334'), ['334 UGFzc3dvcmQ6']);
    const basic = await client.exchange('c2VjcmV0', '5');
    assert.match(basic[0]!, /^535 5\.7\.139 Authentication unsuccessful, basic authentication is disabled\. \[/);
    assert.match(basic[0]!, BRACKET);
    assert.deepEqual(await client.exchange(`AUTH XOAUTH2 ${xoauth2(sandbox.mailbox, sandbox.token())}`, '2'), ['235 2.7.0 Authentication successful']);
    assert.deepEqual(await client.exchange('MAIL FROM:<ceo@contoso.onmicrosoft.com>', '5'), [
      '550 5.7.60 SMTP; Client does not have permissions to send as this sender',
    ]);
  });

  test('tenant-wide SMTP AUTH off gives the Tenant wording', async (t) => {
    const tenant = sandbox.model.tenant(sandbox.tenantId);
    tenant.smtpClientAuthDisabled = true;
    t.after(() => {
      tenant.smtpClientAuthDisabled = false;
    });
    const client = await session();
    const [reply] = await client.exchange(`AUTH XOAUTH2 ${xoauth2(sandbox.mailbox, sandbox.token())}`, '5');
    assert.match(
      reply!,
      /^535 5\.7\.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant\. Visit https:\/\/aka\.ms\/smtp_auth_disabled for more information\. \[/,
    );
    assert.match(reply!, BRACKET);
  });

  // docs/exchange-online-errors.md §10: each 2025–26 text is a switch, answered with its exact words.
  test('switches: concurrent-connections limit, Basic auth retired, tenant external limit, High Volume Email', async (t) => {
    const faults = sandbox.emulator.faults;
    t.after(() => {
      faults.smtpConcurrentLimit = false;
      faults.smtpBasicAuthRetired = false;
      faults.tenantExternalLimit = null;
      faults.hve = false;
    });
    faults.smtpBasicAuthRetired = true;
    const basic = await session();
    assert.deepEqual(await basic.exchange('AUTH PLAIN AHVzZXIAcGFzcw==', '5'), ['550 5.7.30 Basic authentication is not supported for Client Submission.']);

    const client = await authenticated();
    faults.smtpConcurrentLimit = true;
    assert.deepEqual(await client.exchange(`MAIL FROM:<${sandbox.mailbox}>`, '4'), [
      '432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending',
    ]);
    faults.smtpConcurrentLimit = false;
    await client.exchange(`MAIL FROM:<${sandbox.mailbox}>`, '2');
    faults.tenantExternalLimit = '5.7.233';
    assert.deepEqual(await client.exchange('RCPT TO:<someone@example.net>', '5'), [
      '550 5.7.233 your tenant exceeded its daily limit for sending email to external recipients',
    ]);
    assert.deepEqual(await client.exchange(`RCPT TO:<${sandbox.mailbox}>`, '2'), ['250 2.1.5 Recipient OK'], 'internal recipients still flow');
    faults.hve = true;
    assert.deepEqual(await client.exchange('RCPT TO:<someone@example.net>', '5'), [
      '550 5.5.105 External sending is not supported for High Volume Email accounts',
    ]);
  });

  test('faults: AUTH throttled, sender thread limit, SendAs denied', async (t) => {
    t.after(() => {
      sandbox.model.faults.smtpThrottle = false;
      sandbox.emulator.faults.smtpSenderThreadLimit = false;
      sandbox.emulator.faults.smtpSendAsDenied = false;
    });
    sandbox.model.faults.smtpThrottle = true;
    const throttled = await session();
    const [busy] = await throttled.exchange(`AUTH XOAUTH2 ${xoauth2(sandbox.mailbox, sandbox.token())}`, '4');
    assert.match(busy!, /^454 4\.7\.0 Temporary server error\. Please try again later\. PRX4 \[/);
    sandbox.model.faults.smtpThrottle = false;

    const client = await authenticated();
    sandbox.emulator.faults.smtpSenderThreadLimit = true;
    assert.deepEqual(await client.exchange(`MAIL FROM:<${sandbox.mailbox}>`, '4'), [
      `432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded ${HOSTNAME}`,
    ]);
    sandbox.emulator.faults.smtpSenderThreadLimit = false;
    sandbox.emulator.faults.smtpSendAsDenied = true;
    await client.exchange(`MAIL FROM:<${sandbox.mailbox}>`, '2');
    await client.exchange(`RCPT TO:<${sandbox.mailbox}>`, '2');
    await client.exchange('DATA', '354');
    client.send('Subject: denied\r\n\r\nx\r\n.');
    assert.deepEqual(await client.until('5'), [
      `554 5.2.252 SendAsDenied; ${sandbox.mailbox} not allowed to send as ${sandbox.mailbox}; ` +
        'STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message ' +
        `due to a permanent exception with message [BeginDiagnosticData]Cannot submit message. ${HOSTNAME}`,
    ]);
  });

  test('hang fault: no banner', async (t) => {
    sandbox.model.faults.hang.smtp = true;
    t.after(() => {
      sandbox.model.faults.hang.smtp = false;
    });
    const client = await WireClient.connect(sandbox.emulator.smtp.port);
    clients.push(client);
    assert.equal(await client.silentFor(300), true);
  });
});

describe('Exchange emulator: SMTP denials', () => {
  const model = scriptedModel();
  let emulator: ExchangeEmulator;
  let ca: string;
  const expected: Record<MailLoginDenial, RegExp> = {
    token_malformed: /^535 5\.7\.3 Authentication unsuccessful \[/,
    token_expired: /^535 5\.7\.3 Authentication unsuccessful \[/,
    wrong_audience: /^535 5\.7\.3 Authentication unsuccessful \[/,
    unknown_tenant: /^535 5\.7\.3 Authentication unsuccessful \[/,
    role_missing: /^535 5\.7\.3 Authentication unsuccessful \[/,
    rbac_out_of_scope: /^535 5\.7\.3 Authentication unsuccessful \[/,
    no_service_principal: /^535 5\.7\.3 Authentication unsuccessful \[/,
    unknown_mailbox: /^535 5\.7\.3 Authentication unsuccessful \[/,
    no_full_access: /^535 5\.7\.3 Authentication unsuccessful \[/,
    protocol_disabled: /^535 5\.7\.3 Authentication unsuccessful \[/,
    smtp_auth_disabled_tenant:
      /^535 5\.7\.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant\. Visit https:\/\/aka\.ms\/smtp_auth_disabled for more information\. \[/,
    smtp_auth_disabled_mailbox:
      /^535 5\.7\.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox\. Visit https:\/\/aka\.ms\/smtp_auth_disabled for more information\. \[/,
  };

  before(async () => {
    const pki = await testPki();
    ca = pki.ca.cert;
    emulator = await startExchange({ model, tls: pki.server });
  });
  after(() => emulator.close());

  for (const [why, pattern] of Object.entries(expected) as [MailLoginDenial, RegExp][]) {
    test(`${why} → ${pattern.source.slice(1, 30)}…`, async () => {
      model.decision = { ok: false, why };
      const client = await secureSession(emulator.smtp.port, ca);
      try {
        const [reply] = await client.exchange(`AUTH XOAUTH2 ${xoauth2('probe@contoso.com', 'x')}`, '5');
        assert.match(reply!, pattern);
        assert.match(reply!, BRACKET);
      } finally {
        client.close();
      }
    });
  }
});
