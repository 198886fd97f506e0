import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { startSandbox, WireClient, xoauth2, type Sandbox } from './exchange-harness.js';

describe('Exchange emulator: send, find, delete', () => {
  let sandbox: Sandbox;
  const clients: WireClient[] = [];

  const imapSession = async (): Promise<WireClient> => {
    const client = await WireClient.connect(sandbox.emulator.imap.port, sandbox.pki.ca.cert);
    clients.push(client);
    await client.line();
    await client.exchange(`A0 AUTHENTICATE XOAUTH2 ${xoauth2(sandbox.mailbox, sandbox.token())}`, 'A0 ');
    return client;
  };

  /** Submits a message to the probe mailbox over raw SMTP and returns once the DATA reply came. */
  const sendToSelf = async (probeId: string): Promise<void> => {
    const client = await WireClient.connect(sandbox.emulator.smtp.port);
    clients.push(client);
    await client.line();
    await client.exchange('EHLO probe.example', '250 ');
    await client.exchange('STARTTLS', '220');
    await client.startTls(sandbox.pki.ca.cert);
    await client.exchange('EHLO probe.example', '250 ');
    await client.exchange(`AUTH XOAUTH2 ${xoauth2(sandbox.mailbox, sandbox.token())}`, '235');
    await client.exchange(`MAIL FROM:<${sandbox.mailbox}>`, '250');
    await client.exchange(`RCPT TO:<${sandbox.mailbox}>`, '250');
    await client.exchange('DATA', '354');
    client.send(`From: <${sandbox.mailbox}>\r\nTo: <${sandbox.mailbox}>\r\nSubject: probe\r\nX-Mailprobe-Id: ${probeId}\r\n\r\nhello\r\n.`);
    assert.match((await client.until('2'))[0]!, /^250 2\.0\.0 OK /);
    await client.exchange('QUIT', '221');
  };

  before(async () => {
    sandbox = await startSandbox();
  });
  after(async () => {
    for (const client of clients) client.close();
    await sandbox.close();
  });

  test('a message sent over SMTP is found by UID SEARCH HEADER and only it is expunged', async () => {
    const inbox = sandbox.emulator.store.mailbox(sandbox.mailbox).inbox;
    const bystander = inbox.append(Buffer.from('Subject: keep me\r\nX-Mailprobe-Id: other\r\n\r\nx\r\n'));
    await sendToSelf('rt-1');
    const sentItems = sandbox.emulator.store.mailbox(sandbox.mailbox).folder('Sent Items')!;
    assert.match(sentItems.messages.at(-1)!.raw.toString(), /X-Mailprobe-Id: rt-1/);

    const client = await imapSession();
    const selected = await client.exchange('S1 SELECT INBOX', 'S1 ');
    assert.deepEqual(selected, [
      '* 2 EXISTS',
      '* 0 RECENT',
      '* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)',
      '* OK [PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)] Permanent flags',
      '* OK [UNSEEN 1] Is the first unseen message',
      `* OK [UIDVALIDITY ${inbox.uidValidity}] UIDVALIDITY value`,
      `* OK [UIDNEXT ${inbox.uidNext}] The next unique identifier value`,
      'S1 OK [READ-WRITE] SELECT completed.',
    ]);
    const uid = inbox.messages.at(-1)!.uid;
    assert.deepEqual(await client.exchange('S2 UID SEARCH HEADER X-Mailprobe-Id rt-1', 'S2 '), [`* SEARCH ${uid}`, 'S2 OK SEARCH completed.']);
    assert.deepEqual(await client.exchange('S3 UID SEARCH NOT HEADER X-Mailprobe-Id rt-1 SINCE 1-Jan-2000', 'S3 '), [
      `* SEARCH ${bystander.uid}`,
      'S3 OK SEARCH completed.',
    ]);
    const fetched = await client.exchange(`S4 UID FETCH ${uid} (FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (X-Mailprobe-Id)])`, 'S4 ');
    assert.deepEqual(fetched, [
      `* 2 FETCH (UID ${uid} FLAGS () RFC822.SIZE ${inbox.byUid(uid)!.raw.length} BODY[HEADER.FIELDS (X-Mailprobe-Id)] {24}`,
      'X-Mailprobe-Id: rt-1',
      '',
      ')',
      'S4 OK FETCH completed.',
    ]);
    assert.deepEqual(await client.exchange(`S5 UID STORE ${uid} +FLAGS (\\Deleted)`, 'S5 '), [
      `* 2 FETCH (FLAGS (\\Deleted) UID ${uid})`,
      'S5 OK STORE completed.',
    ]);
    bystander.flags.add('\\Deleted');
    assert.deepEqual(await client.exchange(`S6 UID EXPUNGE ${uid}`, 'S6 '), ['* 2 EXPUNGE', 'S6 OK EXPUNGE completed.']);
    assert.deepEqual(
      inbox.messages.map((message) => message.uid),
      [bystander.uid],
    );
  });

  test('delayed delivery shows up as EXISTS during IDLE; stopped delivery never arrives', async (t) => {
    t.after(() => {
      sandbox.emulator.faults.deliveryDelayMs = 0;
      sandbox.emulator.faults.deliveryStopped = false;
    });
    const client = await imapSession();
    const inbox = sandbox.emulator.store.mailbox(sandbox.mailbox).inbox;
    const before = inbox.messages.length;
    await client.exchange('D1 SELECT INBOX', 'D1 ');
    assert.deepEqual(await client.exchange('D2 IDLE', '+'), ['+ IDLE accepted, awaiting DONE command.']);
    // Long enough that the send is over before delivery even on a loaded machine.
    sandbox.emulator.faults.deliveryDelayMs = 1500;
    await sendToSelf('rt-delayed');
    assert.equal(inbox.messages.length, before, 'not there yet');
    assert.equal(await client.line(30_000), `* ${before + 1} EXISTS`);
    assert.deepEqual(await client.exchange('DONE', 'D2 '), ['D2 OK IDLE completed.']);

    sandbox.emulator.faults.deliveryDelayMs = 0;
    sandbox.emulator.faults.deliveryStopped = true;
    await sendToSelf('rt-stopped');
    assert.deepEqual(await client.exchange('D3 UID SEARCH HEADER X-Mailprobe-Id rt-stopped', 'D3 '), ['* SEARCH', 'D3 OK SEARCH completed.']);
  });

  test('imapflow and nodemailer drive the emulator: send, LIST, search, fetch, delete', async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: sandbox.emulator.smtp.port,
      secure: false,
      requireTLS: true,
      tls: { ca: [sandbox.pki.ca.cert], servername: 'localhost' },
      auth: { type: 'OAuth2', user: sandbox.mailbox, accessToken: sandbox.token() },
    });
    const info = await transport.sendMail({
      from: sandbox.mailbox,
      to: sandbox.mailbox,
      subject: 'interop',
      text: 'hello',
      headers: { 'X-Mailprobe-Id': 'interop-1' },
    });
    transport.close();
    assert.match(info.response, /^250 2\.0\.0 OK </);

    const imap = new ImapFlow({
      host: '127.0.0.1',
      port: sandbox.emulator.imap.port,
      secure: true,
      servername: 'localhost',
      tls: { ca: [sandbox.pki.ca.cert] },
      auth: { user: sandbox.mailbox, accessToken: sandbox.token() },
      logger: false,
    });
    await imap.connect();
    try {
      const folders = await imap.list();
      // imapflow sorts the listing itself, so compare as a map.
      assert.deepEqual(
        new Map(folders.map((folder) => [folder.path, folder.specialUse ?? null])),
        new Map([
          ['Archive', '\\Archive'],
          ['Deleted Items', '\\Trash'],
          ['Drafts', '\\Drafts'],
          ['INBOX', '\\Inbox'],
          ['Junk Email', '\\Junk'],
          ['Outbox', null],
          ['Sent Items', '\\Sent'],
        ]),
      );
      const lock = await imap.getMailboxLock('INBOX');
      try {
        const uids = await imap.search({ header: { 'X-Mailprobe-Id': 'interop-1' } }, { uid: true });
        assert.ok(Array.isArray(uids) && uids.length === 1);
        const message = await imap.fetchOne(String(uids[0]), { envelope: true, headers: ['x-mailprobe-id'] }, { uid: true });
        assert.ok(message);
        assert.equal(message.envelope?.subject, 'interop');
        assert.equal(message.envelope?.from?.[0]?.address, sandbox.mailbox);
        assert.match(message.headers?.toString() ?? '', /X-Mailprobe-Id: interop-1/i);
        assert.equal(await imap.messageDelete(uids, { uid: true }), true);
        assert.deepEqual(await imap.search({ header: { 'X-Mailprobe-Id': 'interop-1' } }, { uid: true }), []);
      } finally {
        lock.release();
      }
    } finally {
      await imap.logout();
    }
  });
});
