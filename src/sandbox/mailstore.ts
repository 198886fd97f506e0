/** In-memory mailboxes for the Exchange emulator: folders with UIDVALIDITY, UIDs, flags and raw RFC 822 bytes. */

export interface StoredMessage {
  readonly uid: number;
  readonly flags: Set<string>;
  readonly internalDate: Date;
  readonly raw: Buffer;
}

/** The folders Exchange Online shows over IMAP for an ordinary user mailbox, in its LIST order. */
export const DEFAULT_FOLDERS = ['Archive', 'Deleted Items', 'Drafts', 'INBOX', 'Junk Email', 'Outbox', 'Sent Items'] as const;

export type FolderListener = () => void;

export class Folder {
  private items: StoredMessage[] = [];
  private nextUid = 1;
  private readonly listeners = new Set<FolderListener>();

  constructor(
    readonly name: string,
    readonly uidValidity: number,
  ) {}

  /** Messages in UID order (which is also sequence order). */
  get messages(): readonly StoredMessage[] {
    return this.items;
  }

  get uidNext(): number {
    return this.nextUid;
  }

  append(raw: Buffer, options: { flags?: Iterable<string>; internalDate?: Date } = {}): StoredMessage {
    const message: StoredMessage = {
      uid: this.nextUid++,
      flags: new Set(options.flags ?? []),
      internalDate: options.internalDate ?? new Date(),
      raw,
    };
    this.items.push(message);
    this.changed();
    return message;
  }

  /** Removes messages flagged \Deleted (only those whose UID is in `only`, when given); returns removed UIDs. */
  expunge(only?: ReadonlySet<number>): number[] {
    return this.remove((message) => message.flags.has('\\Deleted') && (!only || only.has(message.uid)));
  }

  /** Removes the messages the predicate picks, whatever their flags (IMAP MOVE); returns removed UIDs. */
  remove(pick: (message: StoredMessage) => boolean): number[] {
    const removed = this.items.filter(pick);
    if (removed.length === 0) return [];
    const gone = new Set(removed);
    this.items = this.items.filter((message) => !gone.has(message));
    this.changed();
    return removed.map((message) => message.uid);
  }

  byUid(uid: number): StoredMessage | undefined {
    return this.items.find((message) => message.uid === uid);
  }

  /** Sessions with this folder selected subscribe so they can announce EXISTS/EXPUNGE. */
  watch(listener: FolderListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

export class Mailbox {
  private readonly folderMap = new Map<string, Folder>();

  constructor(
    readonly address: string,
    nextUidValidity: () => number,
  ) {
    for (const name of DEFAULT_FOLDERS) this.folderMap.set(name.toUpperCase(), new Folder(name, nextUidValidity()));
  }

  /** INBOX is case-insensitive in IMAP; Exchange matches every folder name case-insensitively. */
  folder(name: string): Folder | undefined {
    return this.folderMap.get(name.toUpperCase());
  }

  get inbox(): Folder {
    return this.folder('INBOX')!;
  }

  get folders(): Folder[] {
    return [...this.folderMap.values()];
  }
}

export class MailStore {
  private readonly mailboxes = new Map<string, Mailbox>();
  private uidValidity = 14;

  /** The mailbox for an address, created on first use: any address the tenant routes to has a mailbox. */
  mailbox(address: string): Mailbox {
    const key = address.trim().toLowerCase();
    let mailbox = this.mailboxes.get(key);
    if (!mailbox) {
      mailbox = new Mailbox(key, () => this.uidValidity++);
      this.mailboxes.set(key, mailbox);
    }
    return mailbox;
  }

  deliver(recipient: string, raw: Buffer, internalDate?: Date): StoredMessage {
    return this.mailbox(recipient).inbox.append(raw, internalDate ? { internalDate } : {});
  }
}

/** Header block and body of a message; the separator is the first empty line. */
export function splitMessage(raw: Buffer): { header: Buffer; body: Buffer } {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { header: raw.subarray(0, crlf + 2), body: raw.subarray(crlf + 4) };
  if (lf >= 0) return { header: raw.subarray(0, lf + 1), body: raw.subarray(lf + 2) };
  return { header: raw, body: Buffer.alloc(0) };
}

export interface HeaderField {
  name: string;
  /** Unfolded value without the leading space. */
  value: string;
  /** The field exactly as stored, folding and line end included. */
  raw: string;
}

export function headerFields(raw: Buffer): HeaderField[] {
  const text = splitMessage(raw).header.toString('latin1');
  const fields: HeaderField[] = [];
  for (const line of text.split(/(?<=\n)/)) {
    const last = fields[fields.length - 1];
    if (/^[ \t]/.test(line) && last) {
      last.raw += line;
      last.value += line.replace(/\r?\n$/, '');
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    fields.push({
      name: line.slice(0, colon).trim(),
      value: line
        .slice(colon + 1)
        .replace(/\r?\n$/, '')
        .trim(),
      raw: line,
    });
  }
  return fields;
}

export function headerValue(raw: Buffer, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return headerFields(raw).find((field) => field.name.toLowerCase() === wanted)?.value;
}

/** The bare address inside a header value or path such as `"Probe" <a@b>` or `<a@b>`. */
export function bareAddress(value: string): string {
  const angle = /<([^>]*)>/.exec(value);
  return (angle ? angle[1]! : value).trim().toLowerCase();
}
