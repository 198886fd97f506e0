import { randomInt } from 'node:crypto';
import type { MailLoginDenial, MailProtocol, SandboxModel } from './model.js';
import type { TlsCredentials } from './line-server.js';
import { MailStore } from './mailstore.js';
import { IMAP_SERVER } from './imap-server.js';
import { startMailServer } from './mail-server.js';
import { POP3_SERVER } from './pop3-server.js';
import { SMTP_SERVER } from './smtp-server.js';
import { startGraphServer, type GraphModel, type GraphServer } from './graph.js';

/**
 * What the emulator needs from the tenant model: its verdict on a login, on a sender address and on a Graph mail
 * request, and its faults (hang per protocol, IMAP throttling and "not connected", SMTP AUTH throttling, Graph's).
 */
export type ExchangeModel = Pick<SandboxModel, 'authorizeMailLogin' | 'authorizeSendAs' | 'faults'> & GraphModel;

/**
 * Exchange faults the tenant model does not describe (submission and transport trouble). Read at the moment
 * they matter, so tests and the demo flip them on a running emulator.
 */
export interface ExchangeFaults {
  /** SMTP MAIL FROM answers `432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname=…]`. */
  smtpSenderThreadLimit: boolean;
  /** SMTP DATA answers `554 5.2.252 SendAsDenied; …` even when the sender is the authenticated mailbox. */
  smtpSendAsDenied: boolean;
  /** Accepted mail never reaches the recipients' INBOX (the sender's Sent Items still gets its copy). */
  deliveryStopped: boolean;
  /** Accepted mail reaches the recipients' INBOX after this many milliseconds. */
  deliveryDelayMs: number;
  // The 2025–26 texts (docs/exchange-online-errors.md §10), one switch each.
  /** SMTP MAIL FROM answers Microsoft's current text for more than 3 submissions at once: `432 4.3.2 Concurrent connections limit exceeded. …`. */
  smtpConcurrentLimit: boolean;
  /** AUTH LOGIN/PLAIN answer `550 5.7.30 Basic authentication is not supported for Client Submission.` (the retirement) instead of 5.7.139. */
  smtpBasicAuthRetired: boolean;
  /** The tenant's daily external-recipient limit is reached: RCPT to a recipient outside the sender's domain answers 550 5.7.232 (trial) or 5.7.233. */
  tenantExternalLimit: '5.7.232' | '5.7.233' | null;
  /** The front end is High Volume Email's (smtp-hve.office365.com): RCPT outside the sender's domain answers 550 5.5.105. */
  hve: boolean;
}

export function defaultExchangeFaults(): ExchangeFaults {
  return {
    smtpSenderThreadLimit: false,
    smtpSendAsDenied: false,
    deliveryStopped: false,
    deliveryDelayMs: 0,
    smtpConcurrentLimit: false,
    smtpBasicAuthRetired: false,
    tenantExternalLimit: null,
    hve: false,
  };
}

/** How one Exchange Online front end names itself in greetings and reply brackets. */
export interface BackendIdentity {
  /** e.g. AM0PR06CA0126.eurprd06.prod.outlook.com, as SMTP brackets print it. */
  fqdn: string;
  /** The IMAP/POP greeting bracket: the uppercase FQDN as UTF-16LE, base64. */
  greetingTag: string;
  /** The SMTP banner host, e.g. AM0PR06CA0126.outlook.office365.com. */
  smtpHost: string;
  /** `[<fqdn> <ISO-8601 UTC ms> <16 hex>]`, fresh for every reply. */
  bracket(): string;
  /** `[Hostname=<FQDN uppercase>]`, as STOREDRV replies end. */
  hostnameTag: string;
  /** 16 uppercase hex digits: .NET ticks of now with a random tail, like Exchange's session ids. */
  sessionId(): string;
  now(): number;
}

const DEFAULT_BACKEND_FQDN = 'AM0PR06CA0126.eurprd06.prod.outlook.com';
// .NET ticks (100 ns since 0001-01-01) at the Unix epoch; Exchange ids are such tick counts in hex (08DC… in 2024).
const TICKS_AT_EPOCH = 621_355_968_000_000_000n;

export function backendIdentity(fqdn: string, now: () => number): BackendIdentity {
  const sessionId = (): string => {
    const ticks = BigInt(now()) * 10_000n + TICKS_AT_EPOCH + BigInt(randomInt(10_000));
    return ticks.toString(16).toUpperCase().padStart(16, '0');
  };
  return {
    fqdn,
    greetingTag: Buffer.from(fqdn.toUpperCase(), 'utf16le').toString('base64'),
    smtpHost: `${fqdn.split('.')[0]}.outlook.office365.com`,
    bracket: () => `[${fqdn} ${new Date(now()).toISOString()} ${sessionId()}]`,
    hostnameTag: `[Hostname=${fqdn.toUpperCase()}]`,
    sessionId,
    now,
  };
}

export type SaslLogin = { ok: true; user: string; tenantId: string; appId: string } | { ok: false; why: MailLoginDenial | 'sasl_malformed' };

/** What the protocol servers share; built once per emulator and handed to each server. */
export interface ExchangeContext {
  model: ExchangeModel;
  store: MailStore;
  faults: ExchangeFaults;
  backend: BackendIdentity;
  idleTimeoutMs: number;
  /** Decodes a base64 XOAUTH2 initial response and asks the model. The token never leaves this function. */
  login(saslBase64: string, protocol: MailProtocol): SaslLogin;
  /** Files an accepted submission: Sent Items now (unless told not to), recipients' INBOX now, later or never per the faults. */
  submit(sender: string, recipients: readonly string[], raw: Buffer, options?: { saveToSentItems: boolean }): void;
}

/** Parses `user=<upn>\x01auth=Bearer <token>\x01\x01`; undefined when it is not that shape. */
export function parseXoauth2(saslBase64: string): { user: string; token: string } | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(saslBase64)) return undefined;
  const text = Buffer.from(saslBase64, 'base64').toString('utf8');
  const fields = text.split('\x01');
  if (fields.length < 3 || fields.at(-1) !== '' || fields.at(-2) !== '') return undefined;
  const user = fields.find((field) => field.startsWith('user='))?.slice('user='.length);
  const auth = fields.find((field) => field.startsWith('auth='))?.slice('auth='.length);
  const bearer = auth ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
  if (!user || !bearer) return undefined;
  return { user, token: bearer[1]! };
}

export interface ExchangeEmulator {
  imap: { host: string; port: number };
  pop3: { host: string; port: number };
  smtp: { host: string; port: number };
  /** Microsoft Graph's mail endpoints over the same mailboxes (its own HTTPS listener, as Graph is its own host). */
  graph: GraphServer;
  store: MailStore;
  faults: ExchangeFaults;
  backend: BackendIdentity;
  close(): Promise<void>;
}

export interface ExchangeOptions {
  model: ExchangeModel;
  /** Server certificate for IMAPS/POP3S and SMTP STARTTLS. */
  tls: TlsCredentials;
  /** Bind address; 127.0.0.1 unless told otherwise. */
  host?: string;
  /** Front-end FQDN shown in greetings and brackets. */
  backendFqdn?: string;
  /** Sockets silent this long are closed (default 120 s). */
  idleTimeoutMs?: number;
  now?: () => number;
}

export async function startExchange(options: ExchangeOptions): Promise<ExchangeEmulator> {
  const host = options.host ?? '127.0.0.1';
  const now = options.now ?? Date.now;
  const store = new MailStore();
  const faults = defaultExchangeFaults();
  const backend = backendIdentity(options.backendFqdn ?? DEFAULT_BACKEND_FQDN, now);
  const deliveries = new Set<NodeJS.Timeout>();

  const deliver = (recipients: readonly string[], raw: Buffer): void => {
    for (const recipient of recipients) store.deliver(recipient, raw, new Date(now()));
  };

  const context: ExchangeContext = {
    model: options.model,
    store,
    faults,
    backend,
    idleTimeoutMs: options.idleTimeoutMs ?? 120_000,
    login(saslBase64, protocol) {
      const parsed = parseXoauth2(saslBase64.trim());
      if (!parsed) return { ok: false, why: 'sasl_malformed' };
      const decision = options.model.authorizeMailLogin(parsed.user, parsed.token, protocol);
      if (!decision.ok) return { ok: false, why: decision.why };
      return { ok: true, user: parsed.user.toLowerCase(), tenantId: decision.tenantId, appId: decision.appId };
    },
    submit(sender, recipients, raw, submitOptions = { saveToSentItems: true }) {
      if (submitOptions.saveToSentItems) {
        store
          .mailbox(sender)
          .folder('Sent Items')!
          .append(raw, { flags: ['\\Seen'], internalDate: new Date(now()) });
      }
      if (faults.deliveryStopped) return;
      if (faults.deliveryDelayMs <= 0) {
        deliver(recipients, raw);
        return;
      }
      const timer = setTimeout(() => {
        deliveries.delete(timer);
        deliver(recipients, raw);
      }, faults.deliveryDelayMs);
      deliveries.add(timer);
    },
  };

  const address = { host, tls: options.tls };
  const servers = await Promise.all([
    startMailServer(context, address, IMAP_SERVER),
    startMailServer(context, address, POP3_SERVER),
    startMailServer(context, address, SMTP_SERVER),
  ]);
  const [imap, pop3, smtp] = servers;
  const graph = await startGraphServer({ model: options.model, store, submit: context.submit }, { host, tls: options.tls });

  return {
    imap: { host, port: imap.port },
    pop3: { host, port: pop3.port },
    smtp: { host, port: smtp.port },
    graph,
    store,
    faults,
    backend,
    close: async () => {
      for (const timer of deliveries) clearTimeout(timer);
      deliveries.clear();
      await Promise.all([...servers.map((server) => server.close()), graph.close()]);
    },
  };
}
