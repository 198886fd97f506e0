import type { ExchangeContext } from './exchange.js';
import { LineTooLongError, type LineConnection } from './line-server.js';
import type { MailServer } from './mail-server.js';
import { splitMessage, type Folder, type StoredMessage } from './mailstore.js';

// Exchange Online POP3 texts, byte for byte (docs/exchange-online-errors.md, "POP3"). Exchange gives every authentication denial the same line.
const AUTH_FAILED = '-ERR Authentication failure: unknown user name or bad password.';
const SASL_IR_REFUSED = '-ERR Protocol error. Connection is closed. 10';
const SIGN_OFF = '+OK Microsoft Exchange Server POP3 server signing off.';
const WRONG_STATE = '-ERR Command is not valid in this state.';
const UNKNOWN_COMMAND = '-ERR Protocol error. 14';
const NO_SUCH_MESSAGE = '-ERR The specified message is out of range.';
const CAPABILITIES = ['+OK', 'TOP', 'UIDL', 'SASL PLAIN XOAUTH2', 'USER', '.'];

/** POP3 over implicit TLS (995), as Exchange Online serves it. */
export const POP3_SERVER: MailServer = { protocol: 'pop3', tls: 'implicit', maxLineBytes: 16 * 1024, session: runSession };

async function runSession(connection: LineConnection, context: ExchangeContext): Promise<void> {
  connection.writeLine(`+OK The Microsoft Exchange POP3 service is ready. [${context.backend.greetingTag}]`);
  try {
    const maildrop = await authorization(connection, context);
    if (maildrop) await transaction(connection, maildrop);
  } catch (error) {
    if (!(error instanceof LineTooLongError)) throw error;
    connection.writeLine(SASL_IR_REFUSED);
  }
}

/** One message as the POP session numbered it; deletions apply only at QUIT (RFC 1939 UPDATE state). */
interface Entry {
  message: StoredMessage;
  deleted: boolean;
}

interface Maildrop {
  folder: Folder;
  entries: Entry[];
}

/** The AUTHORIZATION state; returns the maildrop once a login succeeds, undefined when the session ends. */
async function authorization(connection: LineConnection, context: ExchangeContext): Promise<Maildrop | undefined> {
  for (;;) {
    const line = await connection.readLine();
    if (line === null) return undefined;
    const [verb = '', ...args] = line.trim().split(/\s+/);
    switch (verb.toUpperCase()) {
      case 'CAPA':
        for (const capability of CAPABILITIES) connection.writeLine(capability);
        break;
      case 'USER':
        connection.writeLine('+OK');
        break;
      case 'PASS':
        connection.writeLine('-ERR Logon failure: unknown user name or bad password.');
        break;
      case 'QUIT':
        connection.writeLine(SIGN_OFF);
        return undefined;
      case 'AUTH': {
        const mechanism = (args[0] ?? '').toUpperCase();
        if (mechanism === '') {
          for (const reply of ['+OK', 'PLAIN', 'XOAUTH2', '.']) connection.writeLine(reply);
          break;
        }
        if (mechanism !== 'XOAUTH2' && mechanism !== 'PLAIN') {
          connection.writeLine('-ERR Unrecognized authentication type.');
          break;
        }
        // Exchange refuses the one-line SASL-IR form outright and hangs up.
        if (args.length > 1) {
          connection.writeLine(SASL_IR_REFUSED);
          return undefined;
        }
        connection.writeLine('+ ');
        const response = await connection.readLine();
        if (response === null) return undefined;
        // Basic authentication (PLAIN) is disabled in Exchange Online, so it fails like a bad token.
        const login = mechanism === 'XOAUTH2' ? context.login(response, 'pop3') : undefined;
        if (!login?.ok) {
          connection.writeLine(AUTH_FAILED);
          break;
        }
        connection.writeLine('+OK User successfully authenticated.');
        const folder = context.store.mailbox(login.user).inbox;
        return { folder, entries: folder.messages.map((message) => ({ message, deleted: false })) };
      }
      case 'STAT':
      case 'LIST':
      case 'UIDL':
      case 'RETR':
      case 'TOP':
      case 'DELE':
      case 'RSET':
      case 'NOOP':
        connection.writeLine(WRONG_STATE);
        break;
      default:
        connection.writeLine(UNKNOWN_COMMAND);
    }
  }
}

async function transaction(connection: LineConnection, maildrop: Maildrop): Promise<void> {
  const live = (): Entry[] => maildrop.entries.filter((entry) => !entry.deleted);
  const octets = (entries: Entry[]): number => entries.reduce((sum, entry) => sum + entry.message.raw.length, 0);
  /** The entry a message number names, or undefined after answering the error. */
  const pick = (argument: string | undefined): Entry | undefined => {
    const index = Number(argument);
    const entry = Number.isInteger(index) ? maildrop.entries[index - 1] : undefined;
    if (!entry || entry.deleted) {
      connection.writeLine(NO_SUCH_MESSAGE);
      return undefined;
    }
    return entry;
  };
  const listing = (argument: string | undefined, describe: (entry: Entry) => string): void => {
    if (argument !== undefined) {
      const entry = pick(argument);
      if (entry) connection.writeLine(`+OK ${maildrop.entries.indexOf(entry) + 1} ${describe(entry)}`);
      return;
    }
    connection.writeLine(`+OK ${live().length} ${octets(live())}`);
    maildrop.entries.forEach((entry, index) => {
      if (!entry.deleted) connection.writeLine(`${index + 1} ${describe(entry)}`);
    });
    connection.writeLine('.');
  };

  for (;;) {
    const line = await connection.readLine();
    if (line === null) return;
    const [verb = '', ...args] = line.trim().split(/\s+/);
    switch (verb.toUpperCase()) {
      case 'STAT':
        connection.writeLine(`+OK ${live().length} ${octets(live())}`);
        break;
      case 'LIST':
        listing(args[0], (entry) => String(entry.message.raw.length));
        break;
      case 'UIDL':
        listing(args[0], (entry) => `${maildrop.folder.uidValidity}.${entry.message.uid}`);
        break;
      case 'RETR': {
        const entry = pick(args[0]);
        if (!entry) break;
        connection.writeLine('+OK');
        connection.write(dotStuffed(entry.message.raw));
        break;
      }
      case 'TOP': {
        const lines = Number(args[1]);
        if (!Number.isInteger(lines) || lines < 0) {
          connection.writeLine('-ERR Command Argument Error. 12');
          break;
        }
        const entry = pick(args[0]);
        if (!entry) break;
        const { header, body } = splitMessage(entry.message.raw);
        const bodyLines = body
          .toString('latin1')
          .split(/(?<=\n)/)
          .slice(0, lines)
          .join('');
        connection.writeLine('+OK');
        connection.write(dotStuffed(Buffer.concat([header, Buffer.from(`\r\n${bodyLines}`, 'latin1')])));
        break;
      }
      case 'DELE': {
        const entry = pick(args[0]);
        if (!entry) break;
        entry.deleted = true;
        connection.writeLine('+OK');
        break;
      }
      case 'RSET':
        for (const entry of maildrop.entries) entry.deleted = false;
        connection.writeLine('+OK');
        break;
      case 'NOOP':
        connection.writeLine('+OK');
        break;
      case 'CAPA':
        for (const capability of CAPABILITIES) connection.writeLine(capability);
        break;
      case 'QUIT': {
        const doomed = maildrop.entries.filter((entry) => entry.deleted).map((entry) => entry.message);
        for (const message of doomed) message.flags.add('\\Deleted');
        maildrop.folder.expunge(new Set(doomed.map((message) => message.uid)));
        connection.writeLine(SIGN_OFF);
        return;
      }
      case 'AUTH':
      case 'USER':
      case 'PASS':
        connection.writeLine(WRONG_STATE);
        break;
      default:
        connection.writeLine(UNKNOWN_COMMAND);
    }
  }
}

/** A message as a POP3 multi-line reply: CRLF line ends, leading dots doubled, then the terminating dot line. */
function dotStuffed(raw: Buffer): Buffer {
  const text = raw.toString('latin1').replace(/\r?\n/g, '\r\n');
  const body = text.endsWith('\r\n') || text === '' ? text : `${text}\r\n`;
  return Buffer.from(`${body.replace(/^\./gm, '..')}.\r\n`, 'latin1');
}
