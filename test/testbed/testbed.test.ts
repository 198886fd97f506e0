import assert from 'node:assert/strict';
import { request } from 'node:https';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Secret } from '../../src/core/secret.js';
import { startTestbed, type Testbed } from '../support/testbed/index.js';
import { classifyStartFailure, DaemonStartError, PortClashError, withPortRetry } from '../support/testbed/daemon.js';
import { canConnect } from '../support/testbed/ports.js';

// Raw protocol sessions against the real Dovecot and Postfix of the test bed: proves the bed itself speaks
// XOAUTH2 the way Exchange Online does, independently of the probes (tested elsewhere with imapflow/nodemailer).

const READ_TIMEOUT_MS = 5000;
const EXCHANGE_SCOPE = 'https://outlook.office365.com/.default';

/** Reads CRLF lines from a socket that can be swapped for its TLS upgrade (STARTTLS). */
class LineSession {
  #socket: net.Socket;
  #buffer = '';
  #lines: string[] = [];
  #waiter: (() => void) | null = null;
  #closed = false;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    this.#attach(socket);
  }

  static async tls(port: number, ca: string): Promise<LineSession> {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    return new LineSession(socket);
  }

  static async plain(port: number): Promise<LineSession> {
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new LineSession(socket);
  }

  #attach(socket: net.Socket): void {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      for (let end = this.#buffer.indexOf('\r\n'); end >= 0; end = this.#buffer.indexOf('\r\n')) {
        this.#lines.push(this.#buffer.slice(0, end));
        this.#buffer = this.#buffer.slice(end + 2);
      }
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }

  async startTls(ca: string): Promise<void> {
    this.#socket.removeAllListeners('data');
    const secure = tls.connect({ socket: this.#socket, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
    this.#socket = secure;
    this.#attach(secure);
  }

  async line(): Promise<string> {
    const deadline = Date.now() + READ_TIMEOUT_MS;
    while (this.#lines.length === 0) {
      if (this.#closed) throw new Error('connection closed while waiting for a line');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line within ${READ_TIMEOUT_MS} ms`);
      await Promise.race([new Promise<void>((resolve) => (this.#waiter = resolve)), sleep(left)]);
    }
    return this.#lines.shift() as string;
  }

  /** Lines up to and including the first that `last` accepts. */
  async until(last: (line: string) => boolean): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.line();
      lines.push(line);
      if (last(line)) return lines;
    }
  }

  send(line: string): void {
    this.#socket.write(`${line}\r\n`);
  }

  close(): void {
    this.#socket.destroy();
  }
}

const smtpFinal = (line: string): boolean => /^\d{3} /.test(line);

function xoauth2(user: string, token: Secret): string {
  return Buffer.from(`user=${user}\x01auth=Bearer ${token.reveal()}\x01\x01`).toString('base64');
}

function decodeChallenge(line: string, prefix: string): unknown {
  return JSON.parse(Buffer.from(line.slice(prefix.length), 'base64').toString('utf8'));
}

/** client_credentials against the Entra emulator over raw HTTPS, as the admin's curl procedure does. */
async function fetchToken(bed: Testbed): Promise<Secret> {
  const body = new URLSearchParams({
    client_id: bed.clientId,
    client_secret: bed.clientSecret,
    scope: EXCHANGE_SCOPE,
    grant_type: 'client_credentials',
  }).toString();
  const url = new URL(`${bed.entra.url}/${bed.tenantId}/oauth2/v2.0/token`);
  const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', ca: bed.ca, timeout: READ_TIMEOUT_MS, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('token request timed out')));
    req.on('error', reject);
    req.end(body);
  });
  assert.equal(answer.status, 200, 'token endpoint status');
  const parsed: unknown = JSON.parse(answer.text);
  assert.ok(parsed && typeof parsed === 'object' && 'access_token' in parsed && typeof parsed.access_token === 'string');
  return new Secret(parsed.access_token);
}

async function imapLogin(bed: Testbed, user: string, token: Secret): Promise<{ session: LineSession; reply: string; challenge?: unknown }> {
  const session = await LineSession.tls(bed.imap.port, bed.ca);
  assert.match(await session.line(), /^\* OK /);
  session.send(`a1 AUTHENTICATE XOAUTH2 ${xoauth2(user, token)}`);
  const first = await session.line();
  if (!first.startsWith('+ ')) return { session, reply: first };
  // Dovecot reports a refused token as a SASL error challenge first and fails only after the client's answer.
  session.send('');
  return { session, reply: await session.line(), challenge: decodeChallenge(first, '+ ') };
}

async function pop3Login(bed: Testbed, user: string, token: Secret): Promise<{ session: LineSession; reply: string; challenge?: unknown }> {
  const session = await LineSession.tls(bed.pop3.port, bed.ca);
  assert.match(await session.line(), /^\+OK/);
  session.send('AUTH XOAUTH2');
  assert.equal(await session.line(), '+ ');
  session.send(xoauth2(user, token));
  const first = await session.line();
  if (!first.startsWith('+ ')) return { session, reply: first };
  session.send('');
  return { session, reply: await session.line(), challenge: decodeChallenge(first, '+ ') };
}

async function smtpSession(bed: Testbed): Promise<{ session: LineSession; ehloBeforeTls: string[]; ehloAfterTls: string[] }> {
  const session = await LineSession.plain(bed.smtp.port);
  assert.match(await session.line(), /^220 /);
  session.send('EHLO probe.test');
  const ehloBeforeTls = await session.until(smtpFinal);
  session.send('STARTTLS');
  assert.match(await session.line(), /^220 /);
  await session.startTls(bed.ca);
  session.send('EHLO probe.test');
  return { session, ehloBeforeTls, ehloAfterTls: await session.until(smtpFinal) };
}

async function smtpAuth(session: LineSession, user: string, token: Secret): Promise<{ reply: string; challenge?: unknown }> {
  session.send(`AUTH XOAUTH2 ${xoauth2(user, token)}`);
  const first = await session.line();
  if (!first.startsWith('334 ')) return { reply: first };
  session.send('');
  return { reply: await session.line(), challenge: decodeChallenge(first, '334 ') };
}

async function smtpCommand(session: LineSession, line: string): Promise<string> {
  session.send(line);
  const lines = await session.until(smtpFinal);
  return lines[lines.length - 1] as string;
}

async function sendToSelf(bed: Testbed, token: Secret, subject: string): Promise<void> {
  const { session } = await smtpSession(bed);
  try {
    assert.match((await smtpAuth(session, bed.mailbox, token)).reply, /^235 /);
    assert.match(await smtpCommand(session, `MAIL FROM:<${bed.mailbox}>`), /^250 /);
    assert.match(await smtpCommand(session, `RCPT TO:<${bed.mailbox}>`), /^250 /);
    assert.match(await smtpCommand(session, 'DATA'), /^354 /);
    const message = [`From: <${bed.mailbox}>`, `To: <${bed.mailbox}>`, `Subject: ${subject}`, '', 'test bed round trip', '.'];
    assert.match(await smtpCommand(session, message.join('\r\n')), /^250 /);
    assert.match(await smtpCommand(session, 'QUIT'), /^221 /);
  } finally {
    session.close();
  }
}

async function findMessage(bed: Testbed, subject: string): Promise<boolean> {
  const dir = path.join(bed.maildir(bed.mailbox), 'new');
  const names = await readdir(dir).catch(() => []);
  for (const name of names) {
    if ((await readFile(path.join(dir, name), 'latin1')).includes(`Subject: ${subject}`)) return true;
  }
  return false;
}

async function waitForMessage(bed: Testbed, subject: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await findMessage(bed, subject)) return true;
    await sleep(100);
  }
  return false;
}

function lastDecision(bed: Testbed): unknown {
  const decisions = bed.authDecisions();
  const last = decisions[decisions.length - 1];
  return last && { user: last.user, protocol: last.protocol, ...last.decision };
}

describe('real-server test bed (Dovecot + Postfix, XOAUTH2 via the sandbox model)', () => {
  let bed: Testbed;
  let token: Secret;

  before(async () => {
    bed = await startTestbed();
    token = await fetchToken(bed);
  });
  after(async () => {
    await bed?.close();
  });

  test('IMAPS: XOAUTH2 only, login, LIST, LOGOUT', async () => {
    const { session, reply } = await imapLogin(bed, bed.mailbox, token);
    try {
      assert.match(reply, /^a1 OK /, await bed.logTail());
      session.send('a2 CAPABILITY');
      const capability = await session.until((line) => line.startsWith('a2 '));
      assert.match(capability.join('\n'), /IMAP4rev1/);
      session.send('a3 LIST "" "*"');
      const list = await session.until((line) => line.startsWith('a3 '));
      assert.match(list[list.length - 1] as string, /^a3 OK /);
      assert.ok(
        list.some((line) => /^\* LIST .* INBOX$/.test(line)),
        list.join('\n'),
      );
      assert.ok(
        list.some((line) => line.includes('"Sent Items"')),
        list.join('\n'),
      );
      session.send('a4 LOGOUT');
      const logout = await session.until((line) => line.startsWith('a4 '));
      assert.match(logout[0] as string, /^\* BYE /);
      assert.match(logout[logout.length - 1] as string, /^a4 OK /);
    } finally {
      session.close();
    }
    assert.deepEqual(lastDecision(bed), { user: bed.mailbox, protocol: 'imap', ok: true, tenantId: bed.tenantId, appId: bed.clientId });
  });

  test('IMAPS greeting advertises AUTH=XOAUTH2 and no OAUTHBEARER', async () => {
    const session = await LineSession.tls(bed.imap.port, bed.ca);
    try {
      const greeting = await session.line();
      assert.match(greeting, /^\* OK \[CAPABILITY [^\]]*AUTH=XOAUTH2/);
      assert.doesNotMatch(greeting, /OAUTHBEARER|AUTH=PLAIN/);
    } finally {
      session.close();
    }
  });

  test('POP3S: CAPA, AUTH XOAUTH2 in two steps, STAT', async () => {
    const session = await LineSession.tls(bed.pop3.port, bed.ca);
    try {
      assert.match(await session.line(), /^\+OK/);
      session.send('CAPA');
      const capa = await session.until((line) => line === '.');
      assert.ok(capa.includes('SASL XOAUTH2'), capa.join('\n'));
    } finally {
      session.close();
    }
    const login = await pop3Login(bed, bed.mailbox, token);
    try {
      assert.match(login.reply, /^\+OK /, await bed.logTail());
      login.session.send('STAT');
      assert.match(await login.session.line(), /^\+OK \d+ \d+$/);
      login.session.send('QUIT');
      assert.match(await login.session.line(), /^\+OK/);
    } finally {
      login.session.close();
    }
  });

  test('SMTP submission: AUTH only after STARTTLS; send to self lands in the INBOX', async () => {
    const { session, ehloBeforeTls, ehloAfterTls } = await smtpSession(bed);
    session.close();
    assert.ok(ehloBeforeTls.includes('250-STARTTLS'), ehloBeforeTls.join('\n'));
    assert.ok(!ehloBeforeTls.some((line) => line.includes('AUTH')), ehloBeforeTls.join('\n'));
    assert.ok(
      ehloAfterTls.some((line) => /^250[- ]AUTH XOAUTH2$/.test(line)),
      ehloAfterTls.join('\n'),
    );

    const subject = `testbed-roundtrip-${Date.now()}`;
    await sendToSelf(bed, token, subject);
    assert.ok(await waitForMessage(bed, subject, 10_000), `message not delivered\n${await bed.logTail()}`);
  });

  test('SMTP: MAIL before AUTH is refused with 530 5.7.57', async () => {
    const { session } = await smtpSession(bed);
    try {
      assert.match(await smtpCommand(session, `MAIL FROM:<${bed.mailbox}>`), /^530 5\.7\.57 /);
    } finally {
      session.close();
    }
  });

  test('no FullAccess on the mailbox: IMAP login refused after the error challenge', async () => {
    bed.model.setFullAccess(bed.tenantId, bed.otherMailbox, bed.clientId, false);
    const { session, reply, challenge } = await imapLogin(bed, bed.otherMailbox, token);
    session.close();
    bed.model.setFullAccess(bed.tenantId, bed.otherMailbox, bed.clientId, true);
    assert.deepEqual(challenge, { status: '401', schemes: 'bearer', scope: 'mail' });
    assert.equal(reply, 'a1 NO [AUTHENTICATIONFAILED] Authentication failed.');
    assert.deepEqual(lastDecision(bed), { user: bed.otherMailbox, protocol: 'imap', ok: false, why: 'no_full_access' });
  });

  test('POP disabled on the mailbox: POP3 login refused, IMAP still works', async () => {
    bed.model.setProtocol(bed.tenantId, bed.mailbox, 'pop3', false);
    try {
      const pop3 = await pop3Login(bed, bed.mailbox, token);
      pop3.session.close();
      assert.match(pop3.reply, /^-ERR \[AUTH\] Authentication failed\.$/);
      assert.deepEqual(lastDecision(bed), { user: bed.mailbox, protocol: 'pop3', ok: false, why: 'protocol_disabled' });
      const imap = await imapLogin(bed, bed.mailbox, token);
      imap.session.close();
      assert.match(imap.reply, /^a1 OK /);
    } finally {
      bed.model.setProtocol(bed.tenantId, bed.mailbox, 'pop3', true);
    }
  });

  test('SMTP.SendAsApp revoked: a fresh token lacks the role and AUTH gets 535', async () => {
    bed.model.setRoles(bed.tenantId, bed.clientId, ['IMAP.AccessAsApp', 'POP.AccessAsApp']);
    try {
      const reduced = await fetchToken(bed);
      const { session } = await smtpSession(bed);
      try {
        const { reply, challenge } = await smtpAuth(session, bed.mailbox, reduced);
        assert.deepEqual(challenge, { status: '401', schemes: 'bearer', scope: 'mail' });
        assert.match(reply, /^535 5\.7\.8 /);
      } finally {
        session.close();
      }
      assert.deepEqual(lastDecision(bed), { user: bed.mailbox, protocol: 'smtp', ok: false, why: 'role_missing' });
    } finally {
      bed.model.setRoles(bed.tenantId, bed.clientId, ['IMAP.AccessAsApp', 'POP.AccessAsApp', 'SMTP.SendAsApp']);
    }
  });

  // 5000 bytes: beyond real Entra tokens (1.5-4 KB) and Postfix's default line_length_limit (2048), and under
  // Dovecot 2.3's 8 KB cap on a SASL response ("Authentication response too large", measured at 9000 bytes).
  test('a long garbage bearer token is read whole and refused on every protocol', async () => {
    const garbage = new Secret('x'.repeat(5000));
    const seen = bed.authDecisions().length;
    const imap = await imapLogin(bed, bed.mailbox, garbage);
    imap.session.close();
    assert.match(imap.reply, /^a1 NO \[AUTHENTICATIONFAILED\]/);
    const pop3 = await pop3Login(bed, bed.mailbox, garbage);
    pop3.session.close();
    assert.match(pop3.reply, /^-ERR /);
    const { session } = await smtpSession(bed);
    try {
      assert.match((await smtpAuth(session, bed.mailbox, garbage)).reply, /^535 /);
    } finally {
      session.close();
    }
    const verdicts = bed
      .authDecisions()
      .slice(seen)
      .map((entry) => [entry.protocol, entry.decision.ok ? 'ok' : entry.decision.why]);
    assert.deepEqual(verdicts, [
      ['imap', 'token_malformed'],
      ['pop3', 'token_malformed'],
      ['smtp', 'token_malformed'],
    ]);
  });

  test('stopDelivery holds accepted mail until startDelivery', async () => {
    await bed.stopDelivery();
    const subject = `testbed-held-${Date.now()}`;
    try {
      await sendToSelf(bed, token, subject);
      assert.equal(await waitForMessage(bed, subject, 1500), false, 'mail arrived while delivery was stopped');
    } finally {
      await bed.startDelivery();
    }
    assert.ok(await waitForMessage(bed, subject, 10_000), `held mail not delivered after startDelivery\n${await bed.logTail()}`);
  });

  test('close stops every server', async () => {
    const ports = [bed.imap.port, bed.pop3.port, bed.smtp.port];
    await bed.close();
    for (const port of ports) assert.equal(await canConnect(port), false, `port ${port} still open`);
  });
});

describe('test bed start-up retries', () => {
  test('a start-up failure on a port someone else holds is a port clash; others are not', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const busy = (holder.address() as net.AddressInfo).port;
    try {
      const silent = new DaemonStartError('postfix', 'exited (1) during start-up', '(no log)');
      assert.ok((await classifyStartFailure(silent, [busy])) instanceof PortClashError);
      const logged = new DaemonStartError('dovecot', 'exited (89) during start-up', 'listen(127.0.0.1, 1) failed: Address already in use');
      assert.ok((await classifyStartFailure(logged, [])) instanceof PortClashError);
      const other = new DaemonStartError('dovecot', 'exited (89) during start-up', 'Fatal: Invalid settings');
      assert.equal(await classifyStartFailure(other, []), other);
    } finally {
      holder.close();
    }
  });

  test('withPortRetry retries port clashes only, up to its limit', async () => {
    const clash = new PortClashError(new DaemonStartError('dovecot', 'exited', 'Address already in use'));
    let calls = 0;
    assert.equal(await withPortRetry(3, async () => (++calls < 3 ? Promise.reject(clash) : 'started')), 'started');
    assert.equal(calls, 3);
    calls = 0;
    await assert.rejects(
      withPortRetry(2, async () => (++calls, Promise.reject(clash))),
      PortClashError,
    );
    assert.equal(calls, 2);
    const config = new Error('bad config');
    calls = 0;
    await assert.rejects(
      withPortRetry(5, async () => (++calls, Promise.reject(config))),
      /bad config/,
    );
    assert.equal(calls, 1);
  });
});
