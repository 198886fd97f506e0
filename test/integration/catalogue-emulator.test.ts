import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CheckKind } from '../../src/core/check.js';
import { runCli } from '../support/cli.js';
import { startEmulatorBed, type EmulatorBed } from '../support/emulator-bed.js';
import { writeMonitors } from '../support/monitors.js';

// The catalogue's Exchange and Entra answers that the emulator reproduces, each through the real probes over
// sockets (`mailprobe check --json`), to its reason, its server text and its fix. The doctor test covers the
// setup faults; this one covers the rest of the catalogue.

let bed: EmulatorBed;

before(async () => {
  bed = await startEmulatorBed();
});

after(() => bed?.close());

interface Entry {
  name: string;
  check: CheckKind;
  reason: string;
  stage: string;
  serverText: RegExp;
  fix: RegExp;
  options?: () => NonNullable<Parameters<typeof writeMonitors>[1]>;
  target?: () => Partial<EmulatorBed>;
  breakIt?: () => void;
  repair?: () => void;
}

const entries: Entry[] = [
  {
    name: 'AADSTS7000215 invalid client secret',
    check: 'imap',
    reason: 'token_invalid_client_secret',
    stage: 'token',
    serverText: /^AADSTS7000215: Invalid client secret provided\./,
    fix: /Certificates & secrets/,
    options: () => ({ secret: 'wrong' }),
  },
  {
    name: 'AADSTS1002012 scope without /.default',
    check: 'imap',
    reason: 'token_invalid_scope',
    stage: 'token',
    serverText: /^AADSTS1002012: /,
    fix: /\/\.default/,
    options: () => ({ tenantExtra: { scope: 'https://outlook.office365.com/IMAP.AccessAsApp' } }),
  },
  {
    name: 'AADSTS500011 unknown resource',
    check: 'imap',
    reason: 'token_invalid_resource',
    stage: 'token',
    serverText: /^AADSTS500011: /,
    fix: /scope/i,
    options: () => ({ tenantExtra: { scope: 'https://outlook.office356.com/.default' } }),
  },
  {
    name: 'AADSTS7000112 application disabled',
    check: 'imap',
    reason: 'token_app_disabled',
    stage: 'token',
    serverText: /^AADSTS7000112: /,
    fix: /accountEnabled=true|Enabled for users to sign in/,
    breakIt: () => bed.model.setAppEnabled(bed.tenantId, bed.clientId, false),
    repair: () => bed.model.setAppEnabled(bed.tenantId, bed.clientId, true),
  },
  {
    name: 'IMAP BAD User is authenticated but not connected.',
    check: 'imap',
    reason: 'auth_not_connected',
    stage: 'list',
    serverText: /BAD User is authenticated but not connected\./,
    fix: /Add-MailboxPermission|FullAccess/,
    breakIt: () => {
      bed.model.faults.imapNotConnected = true;
    },
    repair: () => {
      bed.model.faults.imapNotConnected = false;
    },
  },
  {
    name: 'IMAP NO Request is throttled',
    check: 'imap',
    reason: 'throttled',
    stage: 'auth',
    serverText: /Request is throttled\. Suggested Backoff Time: 299609 milliseconds/,
    fix: /./,
    breakIt: () => {
      bed.model.faults.imapThrottleMs = 299609;
    },
    repair: () => {
      bed.model.faults.imapThrottleMs = null;
    },
  },
  {
    name: 'POP -ERR Authentication failure',
    check: 'pop3',
    reason: 'auth_failed',
    stage: 'auth',
    serverText: /^-ERR Authentication failure: unknown user name or bad password\.$/,
    fix: /PopEnabled \$true/,
    breakIt: () => bed.model.setProtocol(bed.tenantId, bed.mailbox, 'pop3', false),
    repair: () => bed.model.setProtocol(bed.tenantId, bed.mailbox, 'pop3', true),
  },
  {
    name: 'SMTP 535 5.7.3 Authentication unsuccessful',
    check: 'smtp',
    reason: 'auth_failed',
    stage: 'auth',
    serverText: /^535 5\.7\.3 Authentication unsuccessful \[/,
    fix: /New-ServicePrincipal/,
    breakIt: () => bed.model.removeServicePrincipal(bed.tenantId, bed.clientId),
    repair: () => bed.model.registerServicePrincipal(bed.tenantId, bed.clientId),
  },
  {
    name: 'SMTP 535 5.7.139 … disabled for the Tenant',
    check: 'smtp',
    reason: 'smtp_auth_disabled_tenant',
    stage: 'auth',
    serverText: /^535 5\.7\.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant\./,
    fix: /Set-TransportConfig -SmtpClientAuthenticationDisabled \$false/,
    breakIt: () => bed.model.setSmtpAuthDisabled(bed.tenantId, null, true),
    repair: () => bed.model.setSmtpAuthDisabled(bed.tenantId, null, false),
  },
  {
    name: 'SMTP 432 4.3.2 sender thread limit',
    check: 'smtp',
    reason: 'throttled',
    stage: 'send',
    serverText: /^432 4\.3\.2 STOREDRV\.ClientSubmit; sender thread limit exceeded/,
    fix: /./,
    breakIt: () => {
      bed.exchange.faults.smtpSenderThreadLimit = true;
    },
    repair: () => {
      bed.exchange.faults.smtpSenderThreadLimit = false;
    },
  },
  {
    name: 'SMTP 554 5.2.252 SendAsDenied',
    check: 'smtp',
    reason: 'send_as_denied',
    stage: 'send',
    serverText: /^554 5\.2\.252 SendAsDenied/,
    fix: /Add-RecipientPermission/,
    breakIt: () => {
      bed.exchange.faults.smtpSendAsDenied = true;
    },
    repair: () => {
      bed.exchange.faults.smtpSendAsDenied = false;
    },
  },
  {
    name: 'SMTP 454 4.7.0 Temporary server error at AUTH',
    check: 'smtp',
    reason: 'server_unavailable',
    stage: 'auth',
    serverText: /4\.7\.0 Temporary server error\. Please try again later\. PRX4/,
    fix: /./,
    breakIt: () => {
      bed.model.faults.smtpThrottle = true;
    },
    repair: () => {
      bed.model.faults.smtpThrottle = false;
    },
  },
];

describe('catalogue entries through the real probes and the emulator', () => {
  for (const entry of entries) {
    test(`${entry.name} → ${entry.reason}`, async () => {
      entry.breakIt?.();
      try {
        const { file } = writeMonitors(bed, { monitors: [{ name: 'cat', checks: [entry.check] }], ...entry.options?.() });
        const run = await runCli(['check', '--config', file, '--json']);
        assert.equal(run.code, 1, run.stdout + run.stderr);
        const result = (
          JSON.parse(run.stdout) as {
            results: Array<{
              outcome: { failure?: { reason: string; stage: string; serverText?: string } };
              diagnosis?: { fixes: string[] };
              retryAfterSeconds?: number;
            }>;
          }
        ).results[0];
        assert.equal(result?.outcome.failure?.reason, entry.reason, JSON.stringify(result?.outcome.failure));
        assert.equal(result?.outcome.failure?.stage, entry.stage);
        assert.match(result?.outcome.failure?.serverText ?? '', entry.serverText);
        assert.match(result?.diagnosis?.fixes.join('\n') ?? '', entry.fix);
        if (entry.reason === 'throttled') assert.ok((result?.retryAfterSeconds ?? 0) > 0, 'throttling makes the runner back off');
      } finally {
        entry.repair?.();
      }
    });
  }
});
