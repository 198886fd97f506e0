import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckKind } from '../../src/core/check.js';

export interface TestbedLike {
  ca: string;
  entra: { authorityHost: string };
  tenantId: string;
  clientId: string;
  clientSecret: string;
  mailbox: string;
  imap: { host: string; port: number };
  pop3: { host: string; port: number };
  smtp: { host: string; port: number };
  /** Microsoft Graph's mail endpoints, where the bed serves them (the emulator does, the Dovecot test bed does not). */
  graph?: { host: string; port: number };
}

export interface MonitorOverrides {
  name?: string;
  checks?: CheckKind[];
  mailbox?: string;
  imap?: { host?: string; port?: number };
  pop3?: { host?: string; port?: number };
  smtp?: { host?: string; port?: number };
  graph?: { host?: string; port?: number };
  tls?: { caFile?: string };
  schedule?: string;
}

/**
 * Writes a monitors.json for a test bed (real or emulated) into a fresh folder and returns its path. The secret
 * lives in a file beside it, as an operator would keep it.
 */
export function writeMonitors(
  bed: TestbedLike,
  options: {
    monitors?: MonitorOverrides[];
    secret?: string;
    authorityHost?: string;
    defaults?: Record<string, unknown>;
    agent?: Record<string, unknown>;
    alerting?: Record<string, unknown>;
    /** Extra tenant fields, e.g. scope or cloud. */
    tenantExtra?: Record<string, unknown>;
  } = {},
): { file: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-config-'));
  writeFileSync(join(dir, 'ca.pem'), bed.ca);
  writeFileSync(join(dir, 'client.secret'), options.secret ?? bed.clientSecret, { mode: 0o600 });
  const monitors = (options.monitors ?? [{}]).map((monitor, i) => ({
    name: monitor.name ?? `probe-${i}`,
    tenant: 'bed',
    mailbox: monitor.mailbox ?? bed.mailbox,
    checks: monitor.checks ?? ['imap', 'smtp'],
    ...(monitor.schedule ? { schedule: monitor.schedule } : {}),
    ...(monitor.tls ? { tls: monitor.tls } : {}),
    imap: { host: bed.imap.host, port: bed.imap.port, ...monitor.imap },
    pop3: { host: bed.pop3.host, port: bed.pop3.port, ...monitor.pop3 },
    smtp: { host: bed.smtp.host, port: bed.smtp.port, ...monitor.smtp },
    ...(bed.graph ? { graph: { host: bed.graph.host, port: bed.graph.port, ...monitor.graph } } : {}),
  }));
  const config = {
    ...(options.agent ? { agent: options.agent } : {}),
    defaults: { timeoutSeconds: 15, stepTimeoutSeconds: 5, tls: { caFile: 'ca.pem' }, ...options.defaults },
    tenants: {
      bed: {
        tenantId: bed.tenantId,
        clientId: bed.clientId,
        credential: { type: 'secret', secret: { file: 'client.secret' } },
        authorityHost: options.authorityHost ?? bed.entra.authorityHost,
        ...options.tenantExtra,
      },
    },
    monitors,
    ...(options.alerting ? { alerting: options.alerting } : {}),
  };
  const file = join(dir, 'monitors.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, dir };
}

/** A valid monitors.json that needs no servers (a secret from the environment), for tests of the CLI itself. */
export function writeOfflineMonitors(monitors: ReadonlyArray<Record<string, unknown>> = []): string {
  const file = join(mkdtempSync(join(tmpdir(), 'mailprobe-cli-')), 'monitors.json');
  writeFileSync(
    file,
    JSON.stringify({
      tenants: {
        t: { tenantId: 'contoso.onmicrosoft.com', clientId: '10e1f456-3921-4234-9234-105af0774c61', credential: { type: 'secret', secret: { env: 'S' } } },
      },
      monitors,
    }),
  );
  return file;
}
