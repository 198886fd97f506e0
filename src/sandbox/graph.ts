import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TlsCredentials } from './line-server.js';
import { headerFields, type Folder, type MailStore, type StoredMessage } from './mailstore.js';
import type { GraphMailAccess, GraphMailDecision, GraphMailDenial, SandboxModel } from './model.js';

// Microsoft Graph's mail endpoints that the graph check uses, over the emulator's mailboxes (the ones IMAP, POP3 and
// SMTP serve): sendMail, the message list of a folder, and DELETE of one message. Every answer is Graph's shape
// ({"error":{"code","message","innerError"}}); the texts and where each was seen are in docs/exchange-online-errors.md
// §10, "Microsoft Graph (mail)". Faults are read from the model at the moment they matter.

export interface GraphAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What the Graph server needs from the tenant model. */
export type GraphModel = Pick<SandboxModel, 'authorizeGraphMail' | 'faults' | 'now'>;

export interface GraphMailContext {
  model: GraphModel;
  store: MailStore;
  /** Files an accepted message as Exchange does for SMTP: Sent Items when asked, recipients' INBOX per the faults. */
  submit(sender: string, recipients: readonly string[], raw: Buffer, options: { saveToSentItems: boolean }): void;
}

const JSON_HEADERS = { 'content-type': 'application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8' };
const MAX_BODY_BYTES = 256 * 1024;
/** Graph's MailboxConcurrency: at most four requests of one app to one mailbox at a time (docs/exchange-online-errors.md §10). */
export const GRAPH_MAILBOX_CONCURRENCY = 4;
const DEFAULT_PAGE = 10;
const MAX_PAGE = 1000;

/** Graph's error body, as Microsoft Graph writes it for every service behind it. */
export function graphError(now: number, status: number, code: string, message: string, headers: Record<string, string> = {}): GraphAnswer {
  const date = new Date(now).toISOString().replace(/\.\d{3}Z$/, '');
  const requestId = randomUUID();
  return {
    status,
    headers: { ...JSON_HEADERS, 'request-id': requestId, ...headers },
    body: JSON.stringify({ error: { code, message, innerError: { date, 'request-id': requestId, 'client-request-id': requestId } } }),
  };
}

function json(status: number, value: unknown): GraphAnswer {
  return { status, headers: { ...JSON_HEADERS }, body: JSON.stringify(value) };
}

/** Graph's refusal for each denial of the model; `mailbox` as the request named it. */
function denialAnswer(now: number, why: GraphMailDenial, mailbox: string, access: GraphMailAccess): GraphAnswer {
  switch (why) {
    case 'token_missing':
      return graphError(now, 401, 'InvalidAuthenticationToken', 'Access token is empty.');
    case 'token_malformed':
      return graphError(now, 401, 'InvalidAuthenticationToken', 'IDX14100: JWT is not well formed, there are no dots (.).');
    case 'token_expired':
      return graphError(now, 401, 'InvalidAuthenticationToken', 'Lifetime validation failed, the token is expired.');
    case 'wrong_audience':
      return graphError(now, 401, 'InvalidAuthenticationToken', 'Access token validation failure. Invalid audience.');
    case 'unknown_mailbox':
      return access === 'send'
        ? graphError(now, 404, 'ErrorInvalidUser', `The requested user '${mailbox}' is invalid.`)
        : graphError(now, 404, 'ResourceNotFound', 'Resource could not be discovered.');
    case 'rest_disabled':
      return graphError(now, 404, 'MailboxNotEnabledForRESTAPI', 'The mailbox is either inactive, soft-deleted, or is hosted on-premise.');
    case 'no_permissions':
      return graphError(now, 403, 'NoPermissionsInAccessToken', 'The token contains no permissions, or permissions can not be understood.');
    case 'access_denied':
    case 'rbac_out_of_scope':
      return graphError(now, 403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    case 'odata_disabled':
      return graphError(now, 403, 'ErrorAccessDenied', 'Access to OData is disabled.');
  }
}

/** Graph message ids are opaque base64 strings; the emulator's name the folder, its UIDVALIDITY and the UID. */
function messageId(folder: Folder, message: StoredMessage): string {
  return `AAMk${Buffer.from(`${folder.name}\u0000${folder.uidValidity}\u0000${message.uid}`).toString('base64url')}`;
}

function findById(store: MailStore, mailbox: string, id: string): { folder: Folder; message: StoredMessage } | undefined {
  if (!id.startsWith('AAMk')) return undefined;
  const [name, validity, uid] = Buffer.from(id.slice(4), 'base64url').toString('utf8').split('\u0000');
  const folder = store.mailbox(mailbox).folder(name ?? '');
  if (!folder || String(folder.uidValidity) !== validity) return undefined;
  const message = folder.byUid(Number(uid));
  return message ? { folder, message } : undefined;
}

const SELECTABLE = ['id', 'receivedDateTime', 'subject', 'internetMessageId', 'internetMessageHeaders', 'from'] as const;
type Selectable = (typeof SELECTABLE)[number];
const DEFAULT_SELECT: readonly Selectable[] = ['id', 'receivedDateTime', 'subject', 'internetMessageId', 'from'];

function messageView(folder: Folder, message: StoredMessage, select: readonly Selectable[], fullRead: boolean): Record<string, unknown> {
  const fields = headerFields(message.raw);
  const header = (name: string): string => fields.find((field) => field.name.toLowerCase() === name)?.value ?? '';
  const view: Record<string, unknown> = { '@odata.etag': `W/"${message.uid}"` };
  for (const key of select) {
    if (key === 'id') view.id = messageId(folder, message);
    if (key === 'receivedDateTime') view.receivedDateTime = message.internalDate.toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (key === 'subject') view.subject = header('subject');
    if (key === 'internetMessageId') view.internetMessageId = header('message-id');
    if (key === 'from') view.from = { emailAddress: { address: header('from').replace(/^.*<|>.*$/g, '') } };
    // Mail.ReadBasic does not show the headers; the property is then left out rather than refused.
    if (key === 'internetMessageHeaders' && fullRead) view.internetMessageHeaders = fields.map((field) => ({ name: field.name, value: field.value }));
  }
  return view;
}

/** `receivedDateTime ge 2026-12-07T04:00:00Z` (or gt), the one filter the emulator understands. */
function parseFilter(filter: string | null): { ok: true; since?: number; strict?: boolean } | { ok: false } {
  if (filter === null) return { ok: true };
  const match = /^\s*receivedDateTime\s+(ge|gt)\s+(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)\s*$/i.exec(filter);
  const since = match ? Date.parse(match[2]!) : NaN;
  return Number.isNaN(since) ? { ok: false } : { ok: true, since, strict: match![1]!.toLowerCase() === 'gt' };
}

function listMessages(ctx: GraphMailContext, base: string, url: URL, mailbox: string, folderName: string | undefined, fullRead: boolean): GraphAnswer {
  const now = ctx.model.now();
  const box = ctx.store.mailbox(mailbox);
  const folder = folderName === undefined ? undefined : box.folder(folderName.toLowerCase() === 'inbox' ? 'INBOX' : folderName);
  if (folderName !== undefined && !folder) return graphError(now, 404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
  const params = url.searchParams;
  const filter = parseFilter(params.get('$filter'));
  if (!filter.ok) return graphError(now, 400, 'BadRequest', `Invalid filter clause: ${params.get('$filter') ?? ''}`);
  const selectParam = params.get('$select');
  const select = selectParam === null ? DEFAULT_SELECT : selectParam.split(',').map((field) => field.trim());
  const unknown = select.find((field) => !(SELECTABLE as readonly string[]).includes(field));
  if (unknown !== undefined) {
    return graphError(now, 400, 'RequestBroker--ParseUri', `Could not find a property named '${unknown}' on type 'Microsoft.OutlookServices.Message'.`);
  }
  const top = Math.min(Math.max(1, Number(params.get('$top') ?? DEFAULT_PAGE) || DEFAULT_PAGE), MAX_PAGE);
  const skip = Math.max(0, Number(params.get('$skip') ?? 0) || 0);
  const folders = folder ? [folder] : box.folders;
  const all = folders
    .flatMap((f) => f.messages.map((message) => ({ folder: f, message })))
    .filter(({ message }) => {
      const at = message.internalDate.getTime();
      return filter.since === undefined || (filter.strict ? at > filter.since : at >= filter.since);
    })
    .sort((a, b) => b.message.internalDate.getTime() - a.message.internalDate.getTime() || b.message.uid - a.message.uid);
  const page = all.slice(skip, skip + top);
  const value = page.map(({ folder: f, message }) => messageView(f, message, select as Selectable[], fullRead));
  const answer: Record<string, unknown> = { '@odata.context': `${base}/v1.0/$metadata#users('${mailbox}')/messages`, value };
  if (skip + top < all.length) {
    const next = new URL(url.toString(), base);
    next.searchParams.set('$skip', String(skip + top));
    answer['@odata.nextLink'] = `${base}${next.pathname}${next.search}`;
  }
  return json(200, answer);
}

interface SendMailInput {
  subject: string;
  content: string;
  recipients: string[];
  headers: Array<{ name: string; value: string }>;
  internetMessageId?: string;
  saveToSentItems: boolean;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function parseSendMail(now: number, body: string): { ok: true; value: SendMailInput } | { ok: false; answer: GraphAnswer } {
  if (body.trim() === '') return { ok: false, answer: graphError(now, 400, 'BadRequest', 'Empty Payload. JSON content expected.') };
  let input: unknown;
  try {
    input = JSON.parse(body);
  } catch {
    return {
      ok: false,
      answer: graphError(
        now,
        400,
        'BadRequest',
        'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.',
      ),
    };
  }
  const root = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const message = (typeof root.message === 'object' && root.message !== null ? root.message : {}) as Record<string, unknown>;
  const bodyPart = (typeof message.body === 'object' && message.body !== null ? message.body : {}) as Record<string, unknown>;
  const recipients = (Array.isArray(message.toRecipients) ? message.toRecipients : [])
    .map((recipient: unknown) => text((recipient as { emailAddress?: { address?: unknown } } | null)?.emailAddress?.address))
    .filter((address) => address !== '');
  const headers = (Array.isArray(message.internetMessageHeaders) ? message.internetMessageHeaders : []).map((header: unknown) => ({
    name: text((header as { name?: unknown } | null)?.name),
    value: text((header as { value?: unknown } | null)?.value),
  }));
  const badHeader = headers.find((header) => !/^x-/i.test(header.name) || /[\r\n:]/.test(header.name) || /[\r\n]/.test(header.value));
  if (badHeader) {
    return {
      ok: false,
      answer: graphError(now, 400, 'InvalidInternetMessageHeader', `The internet message header name '${badHeader.name}' should start with 'x-' or 'X-'.`),
    };
  }
  if (recipients.length === 0) {
    return {
      ok: false,
      answer: graphError(now, 400, 'ErrorInvalidRecipients', "At least one recipient isn't valid., A message can't be sent because it contains no recipients."),
    };
  }
  const internetMessageId = text(message.internetMessageId);
  return {
    ok: true,
    value: {
      subject: text(message.subject).replace(/[\r\n]/g, ' '),
      content: text(bodyPart.content),
      recipients,
      headers,
      ...(/^<[^<>\s]+>$/.test(internetMessageId) ? { internetMessageId } : {}),
      saveToSentItems: root.saveToSentItems !== false,
    },
  };
}

/** The RFC 822 message Exchange makes of a sendMail request: what IMAP and POP3 then serve. */
function rfc822(sender: string, input: SendMailInput, now: number, host: string): Buffer {
  const date = new Date(now).toUTCString().replace('GMT', '+0000');
  const lines = [
    `From: <${sender}>`,
    `To: ${input.recipients.map((address) => `<${address}>`).join(', ')}`,
    `Subject: ${input.subject}`,
    `Date: ${date}`,
    `Message-ID: ${input.internetMessageId ?? `<${randomUUID().replace(/-/g, '')}@${host}>`}`,
    ...input.headers.map((header) => `${header.name}: ${header.value}`),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset="utf-8"',
    '',
    input.content.replace(/\r?\n/g, '\r\n'),
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

type Route = { access: GraphMailAccess; mailbox: string; handle: (decision: Extract<GraphMailDecision, { ok: true }>) => GraphAnswer };

/** Which endpoint a request is for, or undefined for anything the emulator does not serve. */
function routeOf(ctx: GraphMailContext, req: IncomingMessage, url: URL, base: string, body: string): Route | undefined {
  const now = ctx.model.now();
  const path = url.pathname.split('/').map((segment) => decodeURIComponent(segment));
  // ['', 'v1.0', 'users', '<mailbox>', …]
  if (path[1] !== 'v1.0' || path[2] !== 'users' || !path[3]) return undefined;
  const mailbox = path[3];
  const rest = path.slice(4);
  if (req.method === 'POST' && rest.length === 1 && rest[0]?.toLowerCase() === 'sendmail') {
    return {
      access: 'send',
      mailbox,
      handle: (decision) => {
        const parsed = parseSendMail(now, body);
        if (!parsed.ok) return parsed.answer;
        ctx.submit(decision.mailbox, parsed.value.recipients, rfc822(decision.mailbox, parsed.value, now, 'emulator.prod.outlook.com'), {
          saveToSentItems: parsed.value.saveToSentItems,
        });
        return { status: 202, headers: { 'request-id': randomUUID() }, body: '' };
      },
    };
  }
  if (req.method === 'GET' && rest.length === 1 && rest[0] === 'messages') {
    return { access: 'read', mailbox, handle: (decision) => listMessages(ctx, base, url, decision.mailbox, undefined, decision.fullRead) };
  }
  if (req.method === 'GET' && rest.length === 3 && rest[0] === 'mailFolders' && rest[2] === 'messages') {
    return { access: 'read', mailbox, handle: (decision) => listMessages(ctx, base, url, decision.mailbox, rest[1], decision.fullRead) };
  }
  if (req.method === 'DELETE' && rest.length === 2 && rest[0] === 'messages') {
    return {
      access: 'delete',
      mailbox,
      handle: (decision) => {
        const found = findById(ctx.store, decision.mailbox, rest[1] ?? '');
        if (!found) return graphError(now, 404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
        // DELETE is a soft delete into Recoverable Items, which no mail folder shows.
        found.folder.remove((message) => message === found.message);
        return { status: 204, headers: { 'request-id': randomUUID() }, body: '' };
      },
    };
  }
  return undefined;
}

export interface GraphServer {
  host: string;
  port: number;
  /** https://host:port, the base the graph check's endpoint names. */
  url: string;
  /** Requests answered so far, by HTTP method; refusals included. */
  requests(): number;
  /** The most requests of one app to one mailbox that were in flight at once. */
  peakConcurrency(): number;
  close(): Promise<void>;
}

/** The request body as text; null once it passes maxBytes (the emulator's own bound on what a client sends). */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > maxBytes) return null;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** Starts Graph's mail endpoints on their own HTTPS listener (Graph's host is not Exchange's mail host). */
export async function startGraphServer(ctx: GraphMailContext, options: { host: string; tls: TlsCredentials }): Promise<GraphServer> {
  const sockets = new Set<Socket>();
  const inFlight = new Map<string, number>();
  let requests = 0;
  let peak = 0;
  let base = '';

  async function answer(req: IncomingMessage): Promise<GraphAnswer | null> {
    const { model } = ctx;
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === null) return graphError(model.now(), 413, 'RequestEntityTooLarge', 'The request is too large.');
    if (model.faults.graphHang) return null;
    const url = new URL(req.url ?? '/', base);
    const route = routeOf(ctx, req, url, base, body);
    if (!route) return graphError(model.now(), 400, 'BadRequest', `Resource not found for the segment '${url.pathname.split('/').at(-1) ?? ''}'.`);
    const token = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const decision = model.authorizeGraphMail(token, route.mailbox, route.access);
    if (!decision.ok) return denialAnswer(model.now(), decision.why, route.mailbox, route.access);
    const throttle = model.faults.graphThrottleSeconds;
    const concurrencyText = 'Application is over its MailboxConcurrency limit.';
    if (throttle !== null) return graphError(model.now(), 429, 'ApplicationThrottled', concurrencyText, { 'retry-after': String(throttle) });
    const key = `${decision.appId}\u0000${decision.mailbox}`;
    const running = (inFlight.get(key) ?? 0) + 1;
    if (running > GRAPH_MAILBOX_CONCURRENCY) return graphError(model.now(), 429, 'ApplicationThrottled', concurrencyText, { 'retry-after': '1' });
    inFlight.set(key, running);
    peak = Math.max(peak, running);
    try {
      await delay(model.faults.graphLatencyMs);
      return route.handle(decision);
    } finally {
      const left = (inFlight.get(key) ?? 1) - 1;
      if (left === 0) inFlight.delete(key);
      else inFlight.set(key, left);
    }
  }

  const server = createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res: ServerResponse) => {
    requests += 1;
    answer(req).then(
      (result) => {
        if (result === null) return; // hung: close() destroys the socket
        res.writeHead(result.status, result.headers);
        res.end(result.body);
      },
      () => {
        if (!res.headersSent) res.writeHead(500, JSON_HEADERS);
        res.end();
      },
    );
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, options.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  base = `https://${options.host}:${port}`;
  return {
    host: options.host,
    port,
    url: base,
    requests: () => requests,
    peakConcurrency: () => peak,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
