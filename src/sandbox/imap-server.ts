import type { ExchangeContext } from './exchange.js';
import { LineTooLongError, type LineConnection } from './line-server.js';
import type { MailServer } from './mail-server.js';
import { headerFields, headerValue, splitMessage, type Folder, type Mailbox, type StoredMessage } from './mailstore.js';

/*
 * Exchange Online IMAP4 (outlook.office365.com:993) as imapflow 2 drives it. Texts are Exchange's (docs/exchange-online-errors.md, "IMAP");
 * where no public log shows Exchange's words for a reply, the wording follows the same style and is marked.
 */

const CAPABILITY_BEFORE_AUTH = 'IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+';
const CAPABILITY_AFTER_AUTH =
  'IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CLIENTACCESSRULES ' +
  'CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE CHILDREN IDLE NAMESPACE LITERAL+';
const FLAGS = '(\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)';
const COMMAND_ERROR = 'BAD Command Error. 10';
const ARGUMENT_ERROR = 'BAD Command Argument Error. 11';
const INVALID_STATE = 'BAD Command received in Invalid state.';
// Not seen in a public log; worded like Exchange's other store errors.
const NO_SUCH_FOLDER = 'NO The specified folder could not be found in the store.';
const MAX_LINE_BYTES = 32 * 1024;
const MAX_LITERAL_BYTES = 35 * 1024 * 1024;
const SPECIAL_USE: Record<string, string> = {
  Archive: '\\Archive',
  'Deleted Items': '\\Trash',
  Drafts: '\\Drafts',
  'Junk Email': '\\Junk',
  'Sent Items': '\\Sent',
};
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** IMAP over implicit TLS (993), as Exchange Online serves it. */
export const IMAP_SERVER: MailServer = {
  protocol: 'imap',
  tls: 'implicit',
  maxLineBytes: MAX_LINE_BYTES,
  session: (connection, context) => new ImapSession(connection, context).run(),
};

// ---------------------------------------------------------------------------------------------------------------
// Command syntax: tag, name, arguments as atoms, strings (quoted or literal) and parenthesised lists.

type Token = { kind: 'atom'; value: string } | { kind: 'string'; value: string } | { kind: 'list'; items: Token[] };

class ArgumentError extends Error {}

// Literals are read off the wire first and stand in the command text as \0<index>\0, so the tokenizer sees one string.
const LITERAL_MARK = '\u0000';

function tokenize(text: string, literals: readonly string[] = []): Token[] {
  const stack: Token[][] = [[]];
  let i = 0;
  const push = (token: Token): void => {
    stack[stack.length - 1]!.push(token);
  };
  while (i < text.length) {
    const char = text[i]!;
    if (char === ' ') {
      i++;
    } else if (char === '(') {
      const list: Token = { kind: 'list', items: [] };
      push(list);
      stack.push(list.items);
      i++;
    } else if (char === ')') {
      if (stack.length === 1) throw new ArgumentError('unbalanced )');
      stack.pop();
      i++;
    } else if (char === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new ArgumentError('unterminated string');
        const c = text[i]!;
        if (c === '"') break;
        if (c === '\\') i++;
        value += text[i] ?? '';
        i++;
      }
      i++;
      push({ kind: 'string', value });
    } else if (char === LITERAL_MARK) {
      const end = text.indexOf(LITERAL_MARK, i + 1);
      const literal = literals[Number(text.slice(i + 1, end))];
      if (end < 0 || literal === undefined) throw new ArgumentError('bad literal');
      push({ kind: 'string', value: literal });
      i = end + 1;
    } else {
      // An atom; a [...] section inside it (BODY.PEEK[HEADER.FIELDS (A B)]) may hold spaces and parentheses.
      let value = '';
      let depth = 0;
      while (i < text.length) {
        const c = text[i]!;
        if (depth === 0 && (c === ' ' || c === '(' || c === ')' || c === '"')) break;
        if (c === '[') depth++;
        if (c === ']') depth--;
        value += c;
        i++;
      }
      if (depth !== 0) throw new ArgumentError('unbalanced [');
      push({ kind: 'atom', value });
    }
  }
  if (stack.length !== 1) throw new ArgumentError('unbalanced (');
  return stack[0]!;
}

function text(token: Token | undefined): string {
  if (!token || token.kind === 'list') throw new ArgumentError('expected a string');
  return token.value;
}

function list(token: Token | undefined): Token[] {
  if (!token) throw new ArgumentError('expected a list');
  return token.kind === 'list' ? token.items : [token];
}

/** A sequence set such as 1:3,7,10:* as a membership test; * is the largest number in use. */
function sequenceSet(spec: string, largest: number): (n: number) => boolean {
  const ranges = spec.split(',').map((part) => {
    const [from, to = from] = part.split(':').map((end) => {
      if (end === '*') return largest;
      if (!/^\d+$/.test(end)) throw new ArgumentError('bad sequence set');
      return Number(end);
    });
    return [Math.min(from!, to!), Math.max(from!, to!)] as const;
  });
  return (n) => ranges.some(([low, high]) => n >= low && n <= high);
}

function imapDate(token: Token | undefined): Date {
  const match = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(text(token));
  const month = match ? MONTHS.findIndex((name) => name.toLowerCase() === match[2]!.toLowerCase()) : -1;
  if (!match || month < 0) throw new ArgumentError('bad date');
  return new Date(Date.UTC(Number(match[3]), month, Number(match[1])));
}

function dayOf(date: Date): number {
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
}

function internalDate(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return (
    `"${pad(date.getUTCDate())}-${MONTHS[date.getUTCMonth()]}-${date.getUTCFullYear()} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000"`
  );
}

function mailboxName(name: string): string {
  return /^[A-Za-z0-9_.-]+$/.test(name) ? name : quoted(name);
}

function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** An nstring: NIL, a quoted string, or a literal when the value holds line breaks or 8-bit bytes. */
function nstring(value: string | undefined): string {
  if (value === undefined) return 'NIL';
  if (/[\r\n\u0080-\u00ff]/.test(value)) return `{${Buffer.byteLength(value, 'latin1')}}\r\n${value}`;
  return quoted(value);
}

// ---------------------------------------------------------------------------------------------------------------
// Message data for FETCH and SEARCH.

function addressList(value: string | undefined): string {
  if (value === undefined || value.trim() === '') return 'NIL';
  const addresses = value
    .split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/)
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const angle = /^(.*)<([^>]*)>\s*$/.exec(part);
      const name = angle ? angle[1]!.trim().replace(/^"(.*)"$/, '$1') : '';
      const address = (angle ? angle[2]! : part).trim();
      const at = address.lastIndexOf('@');
      const local = at < 0 ? address : address.slice(0, at);
      const host = at < 0 ? undefined : address.slice(at + 1);
      return `(${nstring(name || undefined)} NIL ${nstring(local)} ${nstring(host)})`;
    });
  return `(${addresses.join('')})`;
}

function envelope(raw: Buffer): string {
  const get = (name: string): string | undefined => headerValue(raw, name);
  const from = addressList(get('From'));
  return (
    `(${nstring(get('Date'))} ${nstring(get('Subject'))} ${from} ` +
    `${get('Sender') ? addressList(get('Sender')) : from} ${get('Reply-To') ? addressList(get('Reply-To')) : from} ` +
    `${addressList(get('To'))} ${addressList(get('Cc'))} ${addressList(get('Bcc'))} ` +
    `${nstring(get('In-Reply-To'))} ${nstring(get('Message-ID'))})`
  );
}

/** The bytes a BODY[section] names; undefined for sections this emulator does not serve. */
function section(raw: Buffer, spec: string): Buffer | undefined {
  const upper = spec.toUpperCase();
  if (upper === '') return raw;
  const { header, body } = splitMessage(raw);
  if (upper === 'HEADER') return Buffer.concat([header, Buffer.from('\r\n')]);
  if (upper === 'TEXT' || upper === '1') return body;
  const fields = /^HEADER\.FIELDS(\.NOT)?\s*\((.*)\)$/.exec(upper);
  if (!fields) return undefined;
  const names = new Set(
    fields[2]!
      .split(/\s+/)
      .filter(Boolean)
      .map((name) => name.replace(/^"(.*)"$/, '$1')),
  );
  const keep = headerFields(raw).filter((field) => names.has(field.name.toUpperCase()) !== Boolean(fields[1]));
  return Buffer.from(`${keep.map((field) => field.raw.replace(/\r?\n$/, '\r\n')).join('')}\r\n`, 'latin1');
}

// ---------------------------------------------------------------------------------------------------------------
// The session.

type State = 'not-authenticated' | 'authenticated' | 'selected';

interface Selection {
  folder: Folder;
  readOnly: boolean;
  /** The session's sequence numbering: UIDs in order, as last announced to the client. */
  view: number[];
  /** Highest UID announced, so messages delivered later show up as EXISTS. */
  lastUid: number;
  unwatch: () => void;
}

interface Command {
  tag: string;
  name: string;
  uid: boolean;
  args: Token[];
}

type Handler = (command: Command) => Promise<boolean | void> | boolean | void;

class ImapSession {
  private state: State = 'not-authenticated';
  private mailbox: Mailbox | undefined;
  private selection: Selection | undefined;
  private idling = false;
  /** Set when the "authenticated but not connected" fault was armed at login. */
  private notConnected = false;
  /** ENABLE IMAP4rev2 was accepted (only offered under the imapRev2 fault). */
  private rev2Enabled = false;

  constructor(
    private readonly connection: LineConnection,
    private readonly context: ExchangeContext,
  ) {}

  async run(): Promise<void> {
    this.send(`* OK The Microsoft Exchange IMAP4 service is ready. [${this.context.backend.greetingTag}]`);
    this.connection.idleFarewell = '* BYE Connection closed. 14';
    try {
      for (;;) {
        const command = await this.readCommand();
        if (command === null) return;
        if (command === undefined) continue;
        if ((await this.dispatch(command)) === false) return;
      }
    } catch (error) {
      if (!(error instanceof LineTooLongError)) throw error;
      this.send(`* ${COMMAND_ERROR}`);
    } finally {
      this.selection?.unwatch();
    }
  }

  private send(line: string): void {
    this.connection.writeLine(line);
  }

  /** The next command; null when the connection is gone, undefined after answering a line that is not one. */
  private async readCommand(): Promise<Command | null | undefined> {
    let commandText = '';
    const literals: string[] = [];
    for (;;) {
      const line = await this.connection.readLine();
      if (line === null) return null;
      const literal = /\{(\d+)(\+?)\}$/.exec(line);
      if (!literal) {
        commandText += line;
        break;
      }
      const size = Number(literal[1]);
      if (size > MAX_LITERAL_BYTES) {
        this.send(`* ${COMMAND_ERROR}`);
        return null;
      }
      if (literal[2] !== '+') this.send('+ Ready for additional command text.');
      const bytes = await this.connection.readBytes(size);
      if (bytes === null) return null;
      commandText += `${line.slice(0, literal.index)}${LITERAL_MARK}${literals.length}${LITERAL_MARK}`;
      literals.push(bytes.toString('latin1'));
    }
    const tag = /^[^\s(){%*"\\\]]+/.exec(commandText)?.[0];
    if (!tag || commandText.slice(tag.length).trim() === '') {
      this.send(`${tag ?? '*'} ${COMMAND_ERROR}`);
      return undefined;
    }
    try {
      const tokens = tokenize(commandText.slice(tag.length), literals);
      let name = text(tokens.shift()).toUpperCase();
      const uid = name === 'UID';
      if (uid) name = text(tokens.shift()).toUpperCase();
      return { tag, name, uid, args: tokens };
    } catch {
      this.send(`${tag} ${COMMAND_ERROR}`);
      return undefined;
    }
  }

  private readonly handlers: Record<string, { states: readonly State[]; uid?: boolean; run: Handler }> = {
    CAPABILITY: { states: ['not-authenticated', 'authenticated', 'selected'], run: (c) => this.capability(c) },
    NOOP: { states: ['not-authenticated', 'authenticated', 'selected'], run: (c) => this.ok(c) },
    ID: { states: ['not-authenticated', 'authenticated', 'selected'], run: (c) => this.id(c) },
    LOGOUT: { states: ['not-authenticated', 'authenticated', 'selected'], run: (c) => this.logout(c) },
    AUTHENTICATE: { states: ['not-authenticated'], run: (c) => this.authenticate(c) },
    LOGIN: { states: ['not-authenticated'], run: (c) => this.login(c) },
    NAMESPACE: { states: ['authenticated', 'selected'], run: (c) => this.namespace(c) },
    ENABLE: { states: ['authenticated', 'selected'], run: (c) => this.enable(c) },
    LIST: { states: ['authenticated', 'selected'], run: (c) => this.list(c) },
    LSUB: { states: ['authenticated', 'selected'], run: (c) => this.list(c) },
    SUBSCRIBE: { states: ['authenticated', 'selected'], run: (c) => this.ok(c) },
    UNSUBSCRIBE: { states: ['authenticated', 'selected'], run: (c) => this.ok(c) },
    STATUS: { states: ['authenticated', 'selected'], run: (c) => this.status(c) },
    SELECT: { states: ['authenticated', 'selected'], run: (c) => this.select(c) },
    EXAMINE: { states: ['authenticated', 'selected'], run: (c) => this.select(c) },
    APPEND: { states: ['authenticated', 'selected'], run: (c) => this.append(c) },
    IDLE: { states: ['authenticated', 'selected'], run: (c) => this.idle(c) },
    CHECK: { states: ['selected'], run: (c) => this.ok(c) },
    UNSELECT: { states: ['selected'], run: (c) => this.unselect(c, false) },
    CLOSE: { states: ['selected'], run: (c) => this.unselect(c, true) },
    EXPUNGE: { states: ['selected'], uid: true, run: (c) => this.expunge(c) },
    SEARCH: { states: ['selected'], uid: true, run: (c) => this.search(c) },
    FETCH: { states: ['selected'], uid: true, run: (c) => this.fetch(c) },
    STORE: { states: ['selected'], uid: true, run: (c) => this.store(c) },
    COPY: { states: ['selected'], uid: true, run: (c) => this.copy(c, false) },
    MOVE: { states: ['selected'], uid: true, run: (c) => this.copy(c, true) },
  };

  /** Runs one command; false ends the session. */
  private async dispatch(command: Command): Promise<boolean> {
    const handler = this.handlers[command.name];
    if (!handler || (command.uid && !handler.uid)) {
      this.send(`${command.tag} ${COMMAND_ERROR}`);
      return true;
    }
    if (!handler.states.includes(this.state)) {
      this.send(`${command.tag} ${INVALID_STATE}`);
      return true;
    }
    if (this.notConnected && !['CAPABILITY', 'NOOP', 'ID', 'LOGOUT'].includes(command.name)) {
      this.send(`${command.tag} BAD User is authenticated but not connected.`);
      this.send('* BYE Connection closed. 14');
      return false;
    }
    // EXPUNGE responses may not interrupt FETCH, STORE or SEARCH, whose numbers the client is about to use.
    this.sync(!['FETCH', 'STORE', 'SEARCH'].includes(command.name));
    try {
      return (await handler.run(command)) !== false;
    } catch (error) {
      if (!(error instanceof ArgumentError)) throw error;
      this.send(`${command.tag} ${ARGUMENT_ERROR}`);
      return true;
    }
  }

  private ok(command: Command): void {
    this.send(`${command.tag} OK ${command.name} completed.`);
  }

  private capability(command: Command): void {
    const line = this.state === 'not-authenticated' ? CAPABILITY_BEFORE_AUTH : CAPABILITY_AFTER_AUTH;
    // Not seen in a public log: where IMAP4rev2 and ENABLE would sit in Exchange's list.
    const rev2 = this.state === 'not-authenticated' ? 'IMAP4rev1 IMAP4rev2' : 'IMAP4rev1 IMAP4rev2 ENABLE';
    this.send(`* CAPABILITY ${this.context.model.faults.imapRev2 ? line.replace('IMAP4rev1', rev2) : line}`);
    this.ok(command);
  }

  private id(command: Command): void {
    this.send('* ID NIL');
    this.ok(command);
  }

  private logout(command: Command): boolean {
    this.send('* BYE Microsoft Exchange Server IMAP4 server signing off.');
    this.ok(command);
    return false;
  }

  private throttled(command: Command): boolean {
    const backoff = this.context.model.faults.imapThrottleMs;
    if (backoff === null) return false;
    this.send(`${command.tag} NO Request is throttled. Suggested Backoff Time: ${backoff} milliseconds`);
    return true;
  }

  private async authenticate(command: Command): Promise<boolean> {
    const mechanism = text(command.args[0]).toUpperCase();
    const failed = `${command.tag} NO AUTHENTICATE failed.`;
    if (this.throttled(command)) return true;
    if (mechanism !== 'XOAUTH2' && mechanism !== 'PLAIN') {
      this.send(failed);
      return true;
    }
    let response = command.args[1] === undefined ? undefined : text(command.args[1]);
    if (response === undefined) {
      this.send('+ ');
      const line = await this.connection.readLine();
      if (line === null) return false;
      response = line;
    }
    // Basic authentication (PLAIN) is disabled in Exchange Online; every refusal reads the same on the wire.
    const login = mechanism === 'XOAUTH2' && response !== '*' ? this.context.login(response, 'imap') : undefined;
    if (!login?.ok) {
      this.send(failed);
      return true;
    }
    this.state = 'authenticated';
    this.mailbox = this.context.store.mailbox(login.user);
    this.notConnected = this.context.model.faults.imapNotConnected;
    this.send(`${command.tag} OK AUTHENTICATE completed.`);
    return true;
  }

  private login(command: Command): void {
    if (this.throttled(command)) return;
    this.send(`${command.tag} NO LOGIN failed.`);
  }

  private namespace(command: Command): void {
    this.send('* NAMESPACE (("" "/")) NIL NIL');
    this.ok(command);
  }

  private list(command: Command): void {
    const reference = text(command.args[0]);
    const pattern = text(command.args[1]);
    if (pattern === '') {
      this.send(`* ${command.name} (\\Noselect \\HasChildren) "/" ""`);
      this.ok(command);
      return;
    }
    const source = `${reference}${pattern}`
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '%' ? '[^/]*' : c.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
      .join('');
    const matcher = new RegExp(`^${source}$`, 'i');
    for (const folder of this.mailbox!.folders) {
      if (!matcher.test(folder.name)) continue;
      const flags = ['\\HasNoChildren', SPECIAL_USE[folder.name]].filter(Boolean).join(' ');
      this.send(`* ${command.name} (${flags}) "/" ${mailboxName(folder.name)}`);
    }
    this.ok(command);
  }

  private folder(command: Command, token: Token | undefined): Folder | undefined {
    const folder = this.mailbox!.folder(text(token));
    if (!folder) this.send(`${command.tag} ${NO_SUCH_FOLDER}`);
    return folder;
  }

  private status(command: Command): void {
    const folder = this.folder(command, command.args[0]);
    if (!folder) return;
    const values: Record<string, () => number> = {
      MESSAGES: () => folder.messages.length,
      RECENT: () => 0,
      UIDNEXT: () => folder.uidNext,
      UIDVALIDITY: () => folder.uidValidity,
      UNSEEN: () => folder.messages.filter((message) => !message.flags.has('\\Seen')).length,
    };
    const items = list(command.args[1]).map((item) => {
      const name = text(item).toUpperCase();
      const value = values[name];
      if (!value) throw new ArgumentError(`unknown STATUS item ${name}`);
      return `${name} ${value()}`;
    });
    this.send(`* STATUS ${mailboxName(folder.name)} (${items.join(' ')})`);
    this.ok(command);
  }

  private select(command: Command): void {
    this.selection?.unwatch();
    this.selection = undefined;
    this.state = 'authenticated';
    const folder = this.folder(command, command.args[0]);
    if (!folder) return;
    const readOnly = command.name === 'EXAMINE';
    const view = folder.messages.map((message) => message.uid);
    const unwatch = folder.watch(() => {
      if (this.idling) this.sync(true);
    });
    this.selection = { folder, readOnly, view, lastUid: folder.uidNext - 1, unwatch };
    this.state = 'selected';
    const firstUnseen = folder.messages.findIndex((message) => !message.flags.has('\\Seen'));
    this.send(`* ${view.length} EXISTS`);
    this.send('* 0 RECENT');
    this.send(`* FLAGS ${FLAGS}`);
    this.send(`* OK [PERMANENTFLAGS ${readOnly ? '()' : FLAGS}] Permanent flags`);
    if (firstUnseen >= 0) this.send(`* OK [UNSEEN ${firstUnseen + 1}] Is the first unseen message`);
    this.send(`* OK [UIDVALIDITY ${folder.uidValidity}] UIDVALIDITY value`);
    this.send(`* OK [UIDNEXT ${folder.uidNext}] The next unique identifier value`);
    this.send(`${command.tag} OK [${readOnly ? 'READ-ONLY' : 'READ-WRITE'}] ${command.name} completed.`);
  }

  private unselect(command: Command, expunge: boolean): void {
    const selection = this.selection!;
    if (expunge && !selection.readOnly) selection.folder.expunge();
    selection.unwatch();
    this.selection = undefined;
    this.state = 'authenticated';
    this.ok(command);
  }

  /** Tells the client about messages that arrived, and (when allowed) about ones other sessions removed. */
  private sync(allowExpunge: boolean): void {
    const selection = this.selection;
    if (!selection) return;
    const { folder, view } = selection;
    if (allowExpunge) {
      const present = new Set(folder.messages.map((message) => message.uid));
      for (let i = view.length - 1; i >= 0; i--) {
        if (present.has(view[i]!)) continue;
        view.splice(i, 1);
        this.send(`* ${i + 1} EXPUNGE`);
      }
    }
    const added = folder.messages.filter((message) => message.uid > selection.lastUid).map((message) => message.uid);
    if (added.length === 0) return;
    view.push(...added);
    selection.lastUid = added[added.length - 1]!;
    this.send(`* ${view.length} EXISTS`);
  }

  /** The messages a sequence set (or UID set) names, with their sequence numbers, skipping any already gone. */
  private resolve(command: Command, spec: string): { seq: number; message: StoredMessage }[] {
    const { folder, view } = this.selection!;
    const inSet = sequenceSet(spec, command.uid ? (view[view.length - 1] ?? 0) : view.length);
    const picked: { seq: number; message: StoredMessage }[] = [];
    view.forEach((uid, index) => {
      if (!inSet(command.uid ? uid : index + 1)) return;
      const message = folder.byUid(uid);
      if (message) picked.push({ seq: index + 1, message });
    });
    return picked;
  }

  private writable(command: Command): boolean {
    if (!this.selection!.readOnly) return true;
    this.send(`${command.tag} NO The folder is read-only.`);
    return false;
  }

  private expunge(command: Command): void {
    if (!this.writable(command)) return;
    const only = command.uid ? new Set(this.resolve(command, text(command.args[0])).map((m) => m.message.uid)) : undefined;
    this.selection!.folder.expunge(only);
    this.sync(true);
    this.ok(command);
  }

  // Not seen in a public log: ENABLE as RFC 5161 has it, only for IMAP4rev2 and only while it is advertised.
  private enable(command: Command): void {
    const wanted = command.args.map((arg) => text(arg).toUpperCase());
    const granted = this.context.model.faults.imapRev2 && wanted.includes('IMAP4REV2') ? ['IMAP4rev2'] : [];
    if (granted.length > 0) this.rev2Enabled = true;
    this.send(`* ENABLED${granted.map((name) => ` ${name}`).join('')}`);
    this.ok(command);
  }

  private search(command: Command): void {
    const args = [...command.args];
    if (args[0]?.kind === 'atom' && args[0].value.toUpperCase() === 'CHARSET') args.splice(0, 2);
    const matches = this.searchKeys(command, args);
    const broken = this.rev2Enabled;
    const found = broken ? [] : this.resolve(command, '1:*').filter((entry) => matches(entry.message, entry.seq));
    const numbers = found.map((entry) => (command.uid ? entry.message.uid : entry.seq));
    this.send(`* SEARCH${numbers.map((n) => ` ${n}`).join('')}`);
    this.ok(command);
  }

  /** Compiles search keys (all must hold) into a predicate. */
  private searchKeys(command: Command, tokens: Token[]): (message: StoredMessage, seq: number) => boolean {
    const keys: ((message: StoredMessage, seq: number) => boolean)[] = [];
    const queue = [...tokens];
    const next = (): ((message: StoredMessage, seq: number) => boolean) => {
      const token = queue.shift();
      if (!token) throw new ArgumentError('missing search key');
      if (token.kind === 'list') return this.searchKeys(command, token.items);
      const key = text(token).toUpperCase();
      const flag = (name: string, present: boolean) => (message: StoredMessage) => message.flags.has(name) === present;
      const contains = (header: string, needle: string) => (message: StoredMessage) =>
        headerFields(message.raw).some(
          (field) => field.name.toLowerCase() === header.toLowerCase() && decode(field.value).toLowerCase().includes(decode(needle).toLowerCase()),
        );
      const sent = (message: StoredMessage): number => {
        const date = new Date(headerValue(message.raw, 'Date') ?? message.internalDate.toISOString());
        return dayOf(Number.isNaN(date.getTime()) ? message.internalDate : date);
      };
      switch (key) {
        case 'ALL':
          return () => true;
        case 'SEEN':
        case 'UNSEEN':
          return flag('\\Seen', key === 'SEEN');
        case 'DELETED':
        case 'UNDELETED':
          return flag('\\Deleted', key === 'DELETED');
        case 'FLAGGED':
        case 'UNFLAGGED':
          return flag('\\Flagged', key === 'FLAGGED');
        case 'ANSWERED':
        case 'UNANSWERED':
          return flag('\\Answered', key === 'ANSWERED');
        case 'DRAFT':
        case 'UNDRAFT':
          return flag('\\Draft', key === 'DRAFT');
        case 'KEYWORD':
        case 'UNKEYWORD':
          return flag(text(queue.shift()), key === 'KEYWORD');
        case 'NEW':
        case 'RECENT':
          return () => false;
        case 'OLD':
          return () => true;
        case 'FROM':
        case 'TO':
        case 'CC':
        case 'BCC':
        case 'SUBJECT':
          return contains(key, text(queue.shift()));
        case 'HEADER': {
          const name = text(queue.shift());
          const test = contains(name, text(queue.shift()));
          return (message) => !this.context.model.faults.imapHeaderSearchBlind && test(message);
        }
        case 'BODY':
        case 'TEXT': {
          const needle = decode(text(queue.shift())).toLowerCase();
          const part = key === 'BODY' ? (m: StoredMessage) => splitMessage(m.raw).body : (m: StoredMessage) => m.raw;
          return (message) => decode(part(message).toString('latin1')).toLowerCase().includes(needle);
        }
        case 'BEFORE':
        case 'ON':
        case 'SINCE':
        case 'SENTBEFORE':
        case 'SENTON':
        case 'SENTSINCE': {
          const day = dayOf(imapDate(queue.shift()));
          const of = key.startsWith('SENT') ? sent : (message: StoredMessage) => dayOf(message.internalDate);
          const test = key.endsWith('BEFORE') ? (d: number) => d < day : key.endsWith('ON') ? (d: number) => d === day : (d: number) => d >= day;
          return (message) => test(of(message));
        }
        case 'LARGER':
        case 'SMALLER': {
          const size = Number(text(queue.shift()));
          if (!Number.isInteger(size)) throw new ArgumentError('bad size');
          return (message) => (key === 'LARGER' ? message.raw.length > size : message.raw.length < size);
        }
        case 'UID': {
          const { view } = this.selection!;
          const inSet = sequenceSet(text(queue.shift()), view[view.length - 1] ?? 0);
          return (message) => inSet(message.uid);
        }
        case 'NOT': {
          const inner = next();
          return (message, seq) => !inner(message, seq);
        }
        case 'OR': {
          const left = next();
          const right = next();
          return (message, seq) => left(message, seq) || right(message, seq);
        }
        default: {
          if (!/^[\d*:,]+$/.test(key)) throw new ArgumentError(`unknown search key ${key}`);
          const inSet = sequenceSet(key, this.selection!.view.length);
          return (_message, seq) => inSet(seq);
        }
      }
    };
    while (queue.length > 0) keys.push(next());
    return (message, seq) => keys.every((key) => key(message, seq));
  }

  private fetch(command: Command): void {
    const selection = this.selection!;
    const spec = text(command.args[0]);
    // Items keep the client's spelling, because BODY[HEADER.FIELDS (…)] is echoed back as written.
    let items = list(command.args[1]).map((item) => text(item));
    const macros: Record<string, string[]> = {
      ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
      FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
    };
    const macro = items.length === 1 ? macros[items[0]!.toUpperCase()] : undefined;
    if (macro) items = macro;
    if (command.uid && !items.some((item) => item.toUpperCase() === 'UID')) items.unshift('UID');
    // Validate every item before answering anything, so a bad request gets only the tagged BAD.
    for (const item of items) fetchItemPattern(item.toUpperCase());
    for (const { seq, message } of this.resolve(command, spec)) {
      const parts: Buffer[] = [];
      let markSeen = false;
      for (const item of items) {
        const data = this.fetchItem(item, message);
        if (data.setsSeen && !selection.readOnly && !message.flags.has('\\Seen')) markSeen = true;
        if (parts.length > 0) parts.push(Buffer.from(' ', 'latin1'));
        parts.push(data.bytes);
      }
      if (markSeen) {
        message.flags.add('\\Seen');
        if (!items.some((item) => item.toUpperCase() === 'FLAGS')) parts.push(Buffer.from(` FLAGS (${[...message.flags].join(' ')})`, 'latin1'));
      }
      this.connection.write(Buffer.concat([Buffer.from(`* ${seq} FETCH (`, 'latin1'), ...parts, Buffer.from(')\r\n', 'latin1')]));
    }
    this.ok(command);
  }

  private fetchItem(original: string, message: StoredMessage): { bytes: Buffer; setsSeen: boolean } {
    const item = original.toUpperCase();
    const plain = (value: string): { bytes: Buffer; setsSeen: boolean } => ({ bytes: Buffer.from(value, 'latin1'), setsSeen: false });
    const literal = (name: string, data: Buffer, setsSeen: boolean): { bytes: Buffer; setsSeen: boolean } => ({
      bytes: Buffer.concat([Buffer.from(`${name} {${data.length}}\r\n`, 'latin1'), data]),
      setsSeen,
    });
    switch (item) {
      case 'UID':
        return plain(`UID ${message.uid}`);
      case 'FLAGS':
        return plain(`FLAGS (${[...message.flags].join(' ')})`);
      case 'INTERNALDATE':
        return plain(`INTERNALDATE ${internalDate(message.internalDate)}`);
      case 'RFC822.SIZE':
        return plain(`RFC822.SIZE ${message.raw.length}`);
      case 'ENVELOPE':
        return plain(`ENVELOPE ${envelope(message.raw)}`);
      case 'RFC822':
        return literal('RFC822', message.raw, true);
      case 'RFC822.HEADER':
        return literal('RFC822.HEADER', section(message.raw, 'HEADER')!, false);
      case 'RFC822.TEXT':
        return literal('RFC822.TEXT', section(message.raw, 'TEXT')!, true);
    }
    const match = fetchItemPattern(item);
    // Echo the section as the client wrote it (header names keep their case), without .PEEK, as RFC 3501 asks.
    const sectionText = /\[(.*)\]/.exec(original)?.[1] ?? match.section;
    const data = section(message.raw, match.section)!;
    const start = match.start === undefined ? 0 : Number(match.start);
    const slice = match.start === undefined ? data : data.subarray(start, match.length === undefined ? undefined : start + Number(match.length));
    const origin = match.start === undefined ? '' : `<${start}>`;
    return literal(`BODY[${sectionText}]${origin}`, slice, !match.peek);
  }

  private store(command: Command): void {
    if (!this.writable(command)) return;
    const spec = text(command.args[0]);
    const action = /^([+-]?)FLAGS(\.SILENT)?$/i.exec(text(command.args[1]));
    if (!action) throw new ArgumentError('bad STORE action');
    const flags = command.args
      .slice(2)
      .flatMap((token) => list(token))
      .map((token) => text(token));
    for (const { seq, message } of this.resolve(command, spec)) {
      if (action[1] === '') message.flags.clear();
      for (const flag of flags) {
        if (action[1] === '-') message.flags.delete(flag);
        else message.flags.add(flag);
      }
      if (action[2]) continue;
      const uid = command.uid ? ` UID ${message.uid}` : '';
      this.send(`* ${seq} FETCH (FLAGS (${[...message.flags].join(' ')})${uid})`);
    }
    this.ok(command);
  }

  private copy(command: Command, move: boolean): void {
    const picked = this.resolve(command, text(command.args[0]));
    const target = this.folder(command, command.args[1]);
    if (!target || (move && !this.writable(command))) return;
    const copies = picked.map(({ message }) => target.append(message.raw, { flags: message.flags, internalDate: message.internalDate }));
    const sourceUids = picked.map(({ message }) => message.uid).join(',');
    const copyUid = `COPYUID ${target.uidValidity} ${sourceUids} ${copies.map((copy) => copy.uid).join(',')}`;
    if (!move) {
      this.send(`${command.tag} OK${picked.length > 0 ? ` [${copyUid}]` : ''} COPY completed.`);
      return;
    }
    if (picked.length > 0) this.send(`* OK [${copyUid}]`);
    const moved = new Set(picked.map(({ message }) => message));
    this.selection!.folder.remove((message) => moved.has(message));
    this.sync(true);
    this.ok(command);
  }

  private append(command: Command): void {
    const args = [...command.args];
    const folder = this.folder(command, args.shift());
    if (!folder) return;
    const flags = args[0]?.kind === 'list' ? list(args.shift()).map((token) => text(token)) : [];
    const date = args.length > 1 ? new Date(text(args.shift()).replace(/^(\d+)-(\w+)-(\d+) /, '$2 $1 $3 ')) : undefined;
    const raw = Buffer.from(text(args.shift()), 'latin1');
    const message = folder.append(raw, {
      flags,
      internalDate: date && !Number.isNaN(date.getTime()) ? date : new Date(this.context.backend.now()),
    });
    this.send(`${command.tag} OK [APPENDUID ${folder.uidValidity} ${message.uid}] APPEND completed.`);
  }

  private async idle(command: Command): Promise<boolean> {
    this.send('+ IDLE accepted, awaiting DONE command.');
    this.idling = true;
    const line = await this.connection.readLine().finally(() => {
      this.idling = false;
    });
    if (line === null) return false;
    if (line.trim().toUpperCase() !== 'DONE') {
      this.send(`${command.tag} ${ARGUMENT_ERROR}`);
      return true;
    }
    this.ok(command);
    return true;
  }
}

/** Parses BODY[...]<start.length> / BODY.PEEK[...]; throws for anything else this emulator cannot serve. */
function fetchItemPattern(item: string): { peek: boolean; section: string; start?: string; length?: string } {
  if (['UID', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'RFC822', 'RFC822.HEADER', 'RFC822.TEXT'].includes(item)) {
    return { peek: true, section: '' };
  }
  const match = /^BODY(\.PEEK)?\[(.*)\](?:<(\d+)(?:\.(\d+))?>)?$/.exec(item);
  if (!match || section(Buffer.alloc(0), match[2]!) === undefined) throw new ArgumentError(`unsupported FETCH item ${item}`);
  return {
    peek: Boolean(match[1]),
    section: match[2]!,
    ...(match[3] === undefined ? {} : { start: match[3] }),
    ...(match[4] === undefined ? {} : { length: match[4] }),
  };
}

/** Command text arrives as latin1 (one char per byte); search strings are UTF-8 on the wire. */
function decode(latin1: string): string {
  return Buffer.from(latin1, 'latin1').toString('utf8');
}
