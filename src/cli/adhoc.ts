import { join } from 'node:path';
import { ConfigError } from '../config/errors.js';
import { envOverrides, parseConfig } from '../config/load.js';
import type { LoadedConfig } from '../config/types.js';
import { PROTOCOLS, type Protocol } from '../core/check.js';
import { DEFAULT_CHECKS } from '../core/checks.js';
import { UsageError } from './io.js';

// `mailprobe check` without a file, as blackbox's /probe?target=… is a probe without a scrape config: the flags
// become a one-tenant, one-monitor configuration that goes through the same schema, defaults and resolution
// as monitors.json, so the check, its transcript, verdict and fix are the same.

export const ADHOC_OPTIONS = {
  'tenant-id': { type: 'string' },
  'client-id': { type: 'string' },
  'secret-env': { type: 'string' },
  'secret-file': { type: 'string' },
  'cert-file': { type: 'string' },
  'key-file': { type: 'string' },
  mailbox: { type: 'string' },
  cloud: { type: 'string' },
  'authority-host': { type: 'string' },
  'ca-file': { type: 'string' },
  // --imap, --pop3, … HOST:PORT: one per protocol.
  ...(Object.fromEntries(PROTOCOLS.map((protocol) => [protocol, { type: 'string' }])) as Record<Protocol, { type: 'string' }>),
} as const;

export const ADHOC_HELP = `Without a file: mailprobe check --tenant-id ID --client-id ID (--secret-env VAR | --secret-file FILE |
  --cert-file PEM --key-file PEM) --mailbox ADDRESS [--check imap]... [--cloud usgov|usgovdod|china]
  [--authority-host HOST] [${PROTOCOLS.map((protocol) => `--${protocol}`).join('|')} HOST:PORT] [--ca-file PEM]
runs the checks (default imap and smtp) of one mailbox as a monitors.json entry with those values would.`;

type AdhocValues = { [K in keyof typeof ADHOC_OPTIONS]?: string | undefined };

export function isAdhoc(values: AdhocValues): boolean {
  return Object.keys(ADHOC_OPTIONS).some((key) => values[key as keyof AdhocValues] !== undefined);
}

export const ADHOC_TENANT = 'command-line';
export const ADHOC_MONITOR = 'command-line';

export function adhocConfig(values: AdhocValues, checks: readonly string[] | undefined, io: { cwd: string; env: NodeJS.ProcessEnv }): LoadedConfig {
  const missing = (['tenant-id', 'client-id', 'mailbox'] as const).filter((key) => values[key] === undefined);
  if (missing.length > 0)
    throw new UsageError(`check: without --config, ${missing.map((key) => `--${key}`).join(', ')} ${missing.length > 1 ? 'are' : 'is'} needed too`);
  const credential = credentialOf(values);
  const endpoint = (flag: Protocol): Record<string, unknown> | undefined => {
    const text = values[flag];
    if (text === undefined) return undefined;
    const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
    if (!match) throw new UsageError(`check: --${flag} "${text}" is not HOST:PORT`);
    return { host: (match[1] ?? '').replace(/^\[|\]$/g, ''), port: Number(match[2]) };
  };
  const protocols = Object.fromEntries(PROTOCOLS.flatMap((flag) => (endpoint(flag) ? [[flag, endpoint(flag)]] : [])));
  const file = {
    ...(values['ca-file'] ? { defaults: { tls: { caFile: values['ca-file'] } } } : {}),
    tenants: {
      [ADHOC_TENANT]: {
        tenantId: values['tenant-id'],
        clientId: values['client-id'],
        credential,
        ...(values.cloud ? { cloud: values.cloud } : {}),
        ...(values['authority-host'] ? { authorityHost: values['authority-host'] } : {}),
      },
    },
    monitors: [{ name: ADHOC_MONITOR, tenant: ADHOC_TENANT, mailbox: values.mailbox, checks: checks ?? DEFAULT_CHECKS, ...protocols }],
  };
  // Relative paths (secret, certificate and CA files) are the working folder's, as typed.
  try {
    return parseConfig(JSON.stringify(file), join(io.cwd, 'command line'), envOverrides(io.env));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(error.issues.map((issue) => ({ file: 'command line', path: flagOf(issue.path), message: issue.message })));
  }
}

/** The flag a configuration path came from, so an error names what was typed. */
function flagOf(path: string): string {
  const rules: Array<[RegExp, string]> = [
    [/\.tenantId$/, '--tenant-id'],
    [/\.clientId$/, '--client-id'],
    [/\.cloud$/, '--cloud'],
    [/\.authorityHost$/, '--authority-host'],
    [/\.credential\.secret/, '--secret-env/--secret-file'],
    [/\.credential\.certFile$/, '--cert-file'],
    [/\.credential\.keyFile$/, '--key-file'],
    [/\.caFile$/, '--ca-file'],
    [/\.mailbox$/, '--mailbox'],
    [/\.checks/, '--check'],
    [/\.(imap|pop3|smtp)\b/, '--$1'],
  ];
  for (const [pattern, flag] of rules) {
    const match = pattern.exec(path);
    if (match) return flag.replace('$1', match[1] ?? '');
  }
  return path;
}

function credentialOf(values: AdhocValues): Record<string, unknown> {
  const secret =
    values['secret-env'] !== undefined ? { env: values['secret-env'] } : values['secret-file'] !== undefined ? { file: values['secret-file'] } : undefined;
  const certificate = values['cert-file'] !== undefined || values['key-file'] !== undefined;
  if (secret && certificate) throw new UsageError('check: give a secret (--secret-env or --secret-file) or a certificate (--cert-file, --key-file), not both');
  if (secret) return { type: 'secret', secret };
  if (values['cert-file'] && values['key-file']) return { type: 'certificate', certFile: values['cert-file'], keyFile: values['key-file'] };
  throw new UsageError('check: without --config, a credential is needed: --secret-env VAR, --secret-file FILE, or --cert-file PEM with --key-file PEM');
}
