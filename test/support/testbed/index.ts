import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createPki } from '../../../src/sandbox/certs.js';
import { startEntra } from '../../../src/sandbox/entra.js';
import { SandboxModel, type TenantSpec } from '../../../src/sandbox/model.js';
import { startAuthBridge, type AuthBridge, type BridgeDecision } from './auth-bridge.js';
import { tails } from './daemon.js';
import { startDovecot, type Dovecot } from './dovecot.js';
import { ensurePackages, ensureVmailUser } from './packages.js';
import { startPostfix, type Postfix } from './postfix.js';

// Real Dovecot (IMAPS, POP3S, LMTP) and Postfix (submission + STARTTLS) from Debian's packages, with SASL
// XOAUTH2 decided by the sandbox tenant model, so the probes can be shown to work against real servers.

export interface TestbedEndpoint {
  host: '127.0.0.1';
  port: number;
}

export interface Testbed {
  model: SandboxModel;
  /** PEM of the CA that signed every server certificate (Entra emulator, IMAPS, POP3S, SMTP STARTTLS). */
  ca: string;
  entra: { url: string; authorityHost: string; tokenRequests(): number };
  tenantId: string;
  clientId: string;
  clientSecret: string;
  mailbox: string;
  otherMailbox: string;
  /** Implicit TLS. */
  imap: TestbedEndpoint;
  /** Implicit TLS. */
  pop3: TestbedEndpoint;
  /** Submission: plain connect, STARTTLS required before AUTH. */
  smtp: TestbedEndpoint;
  /** Mail accepted after this stays queued (deferred) until startDelivery. */
  stopDelivery(): Promise<void>;
  /** Delivers what was held back, and all later mail. */
  startDelivery(): Promise<void>;
  /** The Maildir (cur/, new/, tmp/) of a mailbox, for assertions. */
  maildir(user: string): string;
  /** Every XOAUTH2 verdict the servers asked for, oldest first (users and reasons only). */
  authDecisions(): readonly BridgeDecision[];
  /** Tails of the Dovecot and Postfix logs, for failure messages. */
  logTail(): Promise<string>;
  /** The private directory holding configs, logs, queue and mail. */
  dir: string;
  close(): Promise<void>;
}

export interface TestbedOptions {
  /** Tenants to emulate; the first tenant's first app and first two mailboxes become the defaults. */
  tenants?: TenantSpec[];
  /** Dovecot auth/mail debug logging. */
  debug?: boolean;
  /** Leave the directory (logs, mail) after close; also MAILPROBE_TESTBED_KEEP=1. */
  keepDir?: boolean;
}

export const DEFAULT_DOMAIN = 'contoso.onmicrosoft.com';

function defaultTenants(): TenantSpec[] {
  return [{ domain: DEFAULT_DOMAIN, mailboxes: [{ address: `probe@${DEFAULT_DOMAIN}` }, { address: `shared@${DEFAULT_DOMAIN}` }] }];
}

function defaults(model: SandboxModel): Pick<Testbed, 'tenantId' | 'clientId' | 'clientSecret' | 'mailbox' | 'otherMailbox'> {
  const tenant = model.tenants()[0];
  const app = tenant ? [...tenant.apps.values()][0] : undefined;
  const mailboxes = tenant ? [...tenant.mailboxes.values()] : [];
  const [first, second] = mailboxes;
  const secret = app?.secrets[0];
  if (!tenant || !app || !secret || !first || !second) {
    throw new Error('test bed: the first tenant needs an app with a client secret and at least two mailboxes');
  }
  return { tenantId: tenant.tenantId, clientId: app.clientId, clientSecret: secret.value, mailbox: first.address, otherMailbox: second.address };
}

/** Runs each clean-up step even when an earlier one fails; reports all failures together. */
async function closeAll(steps: Array<() => Promise<void>>): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, 'test bed: clean-up failed');
}

export async function startTestbed(options: TestbedOptions = {}): Promise<Testbed> {
  await ensurePackages();
  const vmail = await ensureVmailUser();
  const model = SandboxModel.fromSpec(options.tenants ?? defaultTenants());
  const ids = defaults(model);

  const dir = await mkdtemp(path.join(os.tmpdir(), 'mailprobe-testbed-'));
  // Dovecot's and Postfix's unprivileged processes must be able to reach their sockets and files inside.
  await chmod(dir, 0o755);
  const keepDir = options.keepDir ?? process.env.MAILPROBE_TESTBED_KEEP === '1';
  const cleanups: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    const steps = cleanups.splice(0).reverse();
    if (!keepDir) steps.push(() => rm(dir, { recursive: true, force: true }));
    await closeAll(steps);
  };

  try {
    const pki = await createPki();
    const tlsDir = path.join(dir, 'tls');
    await mkdir(tlsDir, { mode: 0o700 });
    const tls = { certFile: path.join(tlsDir, 'server.crt'), keyFile: path.join(tlsDir, 'server.key') };
    await writeFile(tls.certFile, pki.server.cert);
    await writeFile(tls.keyFile, pki.server.key, { mode: 0o600 });
    const mailRoot = path.join(dir, 'mail');
    await mkdir(mailRoot, { mode: 0o700 });
    await chown(mailRoot, vmail.uid, vmail.gid);

    const entra = await startEntra({ model, tls: pki.server });
    cleanups.push(() => entra.close());
    const bridge: AuthBridge = await startAuthBridge({ model });
    cleanups.push(() => bridge.close());
    const dovecot: Dovecot = await startDovecot({ dir: path.join(dir, 'dovecot'), mailRoot, tls, bridge, debug: options.debug });
    cleanups.push(() => dovecot.stop());
    const postfix: Postfix = await startPostfix({
      dir: path.join(dir, 'postfix'),
      tls,
      authSocket: dovecot.authSocket,
      lmtpSocket: dovecot.lmtpSocket,
      domains: model.tenants().map((tenant) => tenant.domain),
    });
    cleanups.push(() => postfix.stop());

    return {
      model,
      ca: pki.ca.cert,
      entra: { url: entra.url, authorityHost: entra.authorityHost, tokenRequests: () => entra.tokenRequests() },
      ...ids,
      imap: { host: '127.0.0.1', port: dovecot.imapPort },
      pop3: { host: '127.0.0.1', port: dovecot.pop3Port },
      smtp: { host: '127.0.0.1', port: postfix.submissionPort },
      stopDelivery: () => postfix.holdDelivery(),
      startDelivery: () => postfix.resumeDelivery(),
      maildir: (user) => path.join(mailRoot, user.toLowerCase(), 'Maildir'),
      authDecisions: () => bridge.decisions(),
      logTail: () => tails([...dovecot.logFiles, ...postfix.logFiles]),
      dir,
      close,
    };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}
