import { randomBytes } from 'node:crypto';
import type { BackendIdentity, ExchangeContext, SaslLogin } from './exchange.js';
import { LineTooLongError, type LineConnection } from './line-server.js';
import type { MailServer } from './mail-server.js';
import { bareAddress, headerValue } from './mailstore.js';

/**
 * Exchange Online SMTP submission (smtp.office365.com:587) written on the shared line server rather than the
 * smtp-server package: that package composes its own banner, EHLO lines and auth error texts, and the probe
 * tests need Exchange's exact bytes (docs/exchange-online-errors.md, "SMTP").
 */

const MAX_MESSAGE_BYTES = 25 * 1024 * 1024;
const CLOSING = '221 2.0.0 Service closing transmission channel';

/** SMTP submission with STARTTLS (587), as Exchange Online serves it. */
export const SMTP_SERVER: MailServer = {
  protocol: 'smtp',
  tls: 'starttls',
  maxLineBytes: 64 * 1024,
  session: (connection, context) => new SmtpSession(connection, context).run(),
};

/** The 535 Exchange sends for a refused XOAUTH2 login: only SMTP AUTH switched off has its own words. */
export function authFailureReply(login: Exclude<SaslLogin, { ok: true }>, backend: BackendIdentity): string {
  const disabled = (scope: string): string =>
    `535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the ${scope}. ` +
    `Visit https://aka.ms/smtp_auth_disabled for more information. ${backend.bracket()}`;
  if (login.why === 'smtp_auth_disabled_tenant') return disabled('Tenant');
  if (login.why === 'smtp_auth_disabled_mailbox') return disabled('Mailbox');
  return `535 5.7.3 Authentication unsuccessful ${backend.bracket()}`;
}

class SmtpSession {
  private greeted = false;
  private login: Extract<SaslLogin, { ok: true }> | undefined;
  private sender: string | undefined;
  private recipients: string[] = [];

  constructor(
    private readonly connection: LineConnection,
    private readonly context: ExchangeContext,
  ) {}

  private get backend(): BackendIdentity {
    return this.context.backend;
  }

  async run(): Promise<void> {
    const banner = new Date(this.backend.now()).toUTCString().replace('GMT', '+0000');
    this.reply(`220 ${this.backend.smtpHost} Microsoft ESMTP MAIL Service ready at ${banner} [${this.backend.sessionId()}]`);
    this.connection.idleFarewell = '421 4.4.1 Connection timed out';
    try {
      await this.commands();
    } catch (error) {
      if (!(error instanceof LineTooLongError)) throw error;
      this.reply(`500 5.3.3 Unrecognized command 'unknown' ${this.backend.bracket()}`);
    }
  }

  private reply(line: string): void {
    this.connection.writeLine(line);
  }

  private async commands(): Promise<void> {
    for (;;) {
      const line = await this.connection.readLine();
      if (line === null) return;
      const space = line.indexOf(' ');
      const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase();
      const argument = space < 0 ? '' : line.slice(space + 1).trim();
      switch (verb) {
        case 'EHLO':
        case 'HELO':
          this.hello(verb, argument);
          break;
        case 'STARTTLS':
          if (!(await this.startTls())) return;
          break;
        case 'AUTH':
          if (!(await this.auth(argument))) return;
          break;
        case 'MAIL':
          this.mailFrom(argument);
          break;
        case 'RCPT':
          this.rcptTo(argument);
          break;
        case 'DATA':
          if (!(await this.data())) return;
          break;
        case 'RSET':
          this.resetTransaction();
          this.reply('250 2.0.0 Resetting');
          break;
        case 'NOOP':
          this.reply('250 2.0.0 OK');
          break;
        case 'QUIT':
          this.reply(CLOSING);
          return;
        default:
          this.reply(`500 5.3.3 Unrecognized command 'unknown' ${this.backend.bracket()}`);
      }
    }
  }

  private hello(verb: string, domain: string): void {
    if (domain === '') {
      this.reply('501 5.5.4 Invalid domain name');
      return;
    }
    this.greeted = true;
    this.resetTransaction();
    const first = `${this.backend.smtpHost} Hello [${this.connection.remoteAddress.replace(/^::ffff:/, '')}]`;
    if (verb === 'HELO') {
      this.reply(`250 ${first}`);
      return;
    }
    const lines = [
      first,
      'SIZE 157286400',
      'PIPELINING',
      'DSN',
      'ENHANCEDSTATUSCODES',
      this.connection.secure ? 'AUTH LOGIN XOAUTH2' : 'STARTTLS',
      '8BITMIME',
      'BINARYMIME',
      'CHUNKING',
      'SMTPUTF8',
    ];
    lines.forEach((text, index) => this.reply(`250${index === lines.length - 1 ? ' ' : '-'}${text}`));
  }

  private async startTls(): Promise<boolean> {
    if (this.connection.secure) {
      this.reply('503 5.5.1 Bad sequence of commands');
      return true;
    }
    this.reply('220 2.0.0 SMTP server ready');
    // The session starts over after TLS (RFC 3207 §4.2): the client must EHLO again.
    this.greeted = false;
    this.resetTransaction();
    return this.connection.startTls();
  }

  /** Returns false when the connection is gone. */
  private async auth(argument: string): Promise<boolean> {
    const [mechanism = '', initial] = argument.split(/\s+/);
    if (!this.connection.secure) {
      this.reply(`504 5.7.4 Unrecognized authentication type ${this.backend.bracket()}`);
      return true;
    }
    if (this.login) {
      this.reply('503 5.5.1 Already authenticated');
      return true;
    }
    if (this.context.model.faults.smtpThrottle) {
      this.reply(`454 4.7.0 Temporary server error. Please try again later. PRX4 ${this.backend.bracket()}`);
      return true;
    }
    switch (mechanism.toUpperCase()) {
      case 'XOAUTH2': {
        const response = initial ?? (await this.challenge(''));
        if (response === null) return false;
        // A client cancelling with "*" gets 535 from Office 365, not 501 (docs/exchange-online-errors.md, "XOAUTH2 SASL details").
        const login: SaslLogin = response === '*' ? { ok: false, why: 'sasl_malformed' } : this.context.login(response, 'smtp');
        if (!login.ok) {
          this.reply(authFailureReply(login, this.backend));
          return true;
        }
        this.login = login;
        this.reply('235 2.7.0 Authentication successful');
        return true;
      }
      case 'LOGIN': {
        // Exchange walks the LOGIN prompts, then refuses: basic authentication is off tenant-wide.
        if (initial === undefined && (await this.challenge('VXNlcm5hbWU6')) === null) return false;
        if ((await this.challenge('UGFzc3dvcmQ6')) === null) return false;
        this.reply(this.basicAuthRefusal());
        return true;
      }
      case 'PLAIN': {
        if (initial === undefined && (await this.challenge('')) === null) return false;
        this.reply(this.basicAuthRefusal());
        return true;
      }
      default:
        this.reply(`504 5.7.4 Unrecognized authentication type ${this.backend.bracket()}`);
        return true;
    }
  }

  private basicAuthRefusal(): string {
    if (this.context.faults.smtpBasicAuthRetired) return '550 5.7.30 Basic authentication is not supported for Client Submission.';
    return `535 5.7.139 Authentication unsuccessful, basic authentication is disabled. ${this.backend.bracket()}`;
  }

  private challenge(text: string): Promise<string | null> {
    this.reply(`334 ${text}`);
    return this.connection.readLine();
  }

  private mailFrom(argument: string): void {
    if (!this.greeted) {
      this.reply('503 5.5.2 Send hello first');
      return;
    }
    if (!this.login) {
      this.reply(`530 5.7.57 Client not authenticated to send mail. ${this.backend.bracket()}`);
      return;
    }
    const match = /^FROM:\s*<([^>]*)>/i.exec(argument);
    if (!match) {
      this.reply('501 5.5.4 Invalid arguments');
      return;
    }
    if (this.sender !== undefined) {
      this.reply('503 5.5.2 Sender already specified');
      return;
    }
    if (this.context.faults.smtpConcurrentLimit) {
      this.reply('432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending');
      return;
    }
    if (this.context.faults.smtpSenderThreadLimit) {
      this.reply(`432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded ${this.backend.hostnameTag}`);
      return;
    }
    const sender = match[1]!.trim().toLowerCase();
    if (!this.mayUse(sender)) {
      this.reply('550 5.7.60 SMTP; Client does not have permissions to send as this sender');
      return;
    }
    this.sender = sender;
    this.reply('250 2.1.0 Sender OK');
  }

  /** The mailbox itself, or another address the app holds SendAs on (Add-RecipientPermission). */
  private mayUse(address: string): boolean {
    const login = this.login;
    return login !== undefined && this.context.model.authorizeSendAs(login, login.user, address);
  }

  private rcptTo(argument: string): void {
    if (this.sender === undefined) {
      this.reply('503 5.5.2 Need mail command');
      return;
    }
    const match = /^TO:\s*<([^>]+)>/i.exec(argument);
    if (!match || !match[1]!.includes('@')) {
      this.reply('501 5.1.3 Invalid address');
      return;
    }
    const recipient = match[1]!.trim().toLowerCase();
    const external = recipient.split('@')[1] !== this.sender.split('@')[1];
    const { tenantExternalLimit, hve } = this.context.faults;
    if (external && hve) {
      this.reply('550 5.5.105 External sending is not supported for High Volume Email accounts');
      return;
    }
    if (external && tenantExternalLimit) {
      // The public sources quote the words after the code only in part; the emulator sends the part they agree on.
      this.reply(`550 ${tenantExternalLimit} your tenant exceeded its daily limit for sending email to external recipients`);
      return;
    }
    this.recipients.push(recipient);
    this.reply('250 2.1.5 Recipient OK');
  }

  /** Returns false when the connection is gone. */
  private async data(): Promise<boolean> {
    const { sender, recipients, login } = this;
    if (sender === undefined || login === undefined) {
      this.reply('503 5.5.2 Need mail command');
      return true;
    }
    if (recipients.length === 0) {
      this.reply('503 5.5.2 Need rcpt command');
      return true;
    }
    this.reply('354 Start mail input; end with <CRLF>.<CRLF>');
    const lines: string[] = [];
    let size = 0;
    for (;;) {
      const line = await this.connection.readLine();
      if (line === null) return false;
      if (line === '.') break;
      size += line.length + 2;
      // Keep reading to the final dot after the limit, so the reply lines up with the client's next command.
      if (size <= MAX_MESSAGE_BYTES) lines.push(line.startsWith('.') ? line.slice(1) : line);
    }
    this.resetTransaction();
    if (size > MAX_MESSAGE_BYTES) {
      this.reply('552 5.3.4 Message size exceeds fixed maximum message size');
      return true;
    }
    const { raw, messageId } = withMessageId(Buffer.from(lines.map((line) => `${line}\r\n`).join(''), 'latin1'), this.backend);
    const from = headerValue(raw, 'From');
    if (from !== undefined && !this.mayUse(bareAddress(from))) {
      this.reply('550 5.7.60 SMTP; Client does not have permissions to send as this sender');
      return true;
    }
    if (this.context.faults.smtpSendAsDenied) {
      this.reply(
        `554 5.2.252 SendAsDenied; ${login.user} not allowed to send as ${bareAddress(from ?? sender)}; ` +
          'STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message ' +
          `due to a permanent exception with message [BeginDiagnosticData]Cannot submit message. ${this.backend.hostnameTag}`,
      );
      return true;
    }
    this.context.submit(sender, recipients, raw);
    this.reply(`250 2.0.0 OK ${messageId} ${this.backend.hostnameTag}`);
    return true;
  }

  private resetTransaction(): void {
    this.sender = undefined;
    this.recipients = [];
  }
}

/** Exchange stamps a Message-ID on mail that lacks one and reports it in the DATA reply. */
function withMessageId(raw: Buffer, backend: BackendIdentity): { raw: Buffer; messageId: string } {
  const existing = headerValue(raw, 'Message-ID');
  if (existing) return { raw, messageId: existing.trim() };
  const server = backend.fqdn.split('.')[0]!;
  const messageId = `<${server}${randomBytes(6).toString('hex').toUpperCase()}@${backend.fqdn}>`;
  return { raw: Buffer.concat([Buffer.from(`Message-ID: ${messageId}\r\n`, 'latin1'), raw]), messageId };
}
