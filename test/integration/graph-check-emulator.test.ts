import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { CheckKind } from '../../src/core/check.js';
import { runCli, type CliRun } from '../support/cli.js';
import { startEmulatorBed, type EmulatorBed } from '../support/emulator-bed.js';
import { writeMonitors } from '../support/monitors.js';

// Issue 23's first "Done when": `mailprobe check --check graph` against the Exchange Online emulator's Microsoft
// Graph, healthy and with each Graph fault switched on, as a user runs it (the CLI in-process, a monitors.json on
// disk, the token from the emulated Entra ID). Every run leaves the mailbox as it found it: the probe message gone,
// seeded mail untouched.

const OTHER = 'other@contoso.onmicrosoft.com';
const NOBODY = 'nobody@contoso.onmicrosoft.com';
const SEEDED = ['From: <someone@example.com>\r\nSubject: ordinary mail\r\nMessage-ID: <seeded-1@example.com>\r\n\r\nkeep me\r\n'];

let bed: EmulatorBed;

before(async () => {
  bed = await startEmulatorBed({
    domain: 'contoso.onmicrosoft.com',
    mailboxes: [{ address: 'probe@contoso.onmicrosoft.com' }, { address: OTHER }],
  });
});

after(() => bed?.close());

beforeEach(() => {
  bed.model.resetFaults();
  bed.model.removeRoleAssignment(bed.tenantId, bed.clientId);
  bed.exchange.faults.deliveryStopped = false;
  bed.model.setRoles(bed.tenantId, bed.clientId, ['Application.Read.All', 'Mail.Send', 'Mail.ReadWrite'], 'graph');
  for (const folder of bed.exchange.store.mailbox(bed.mailbox).folders) folder.remove(() => true);
  for (const raw of SEEDED) bed.exchange.store.mailbox(bed.mailbox).inbox.append(Buffer.from(raw));
});

async function check(checks: CheckKind[], options: { mailbox?: string; deadlineSeconds?: number } = {}): Promise<CliRun> {
  const { file } = writeMonitors(bed, {
    monitors: [{ name: 'graph', mailbox: options.mailbox ?? bed.mailbox, checks }],
    defaults: { roundtrip: { deadlineSeconds: options.deadlineSeconds ?? 10, pollSeconds: 0.2 } },
  });
  return runCli(['check', '--config', file, '--check', checks[0]!]);
}

/** Everything in the mailbox, by folder: the probe message must be gone and the seeded mail still there. */
function mailboxContents(): string[] {
  return bed.exchange.store
    .mailbox(bed.mailbox)
    .folders.flatMap((folder) => folder.messages.map((message) => `${folder.name}: ${message.raw.toString('latin1')}`));
}

function assertUntouched(run: CliRun): void {
  const left = mailboxContents();
  assert.deepEqual(
    left,
    SEEDED.map((raw) => `INBOX: ${raw}`),
    `only the seeded mail is left:\n${run.stdout}`,
  );
}

function fixes(stdout: string): string {
  return stdout.slice(stdout.indexOf('    fix:'));
}

describe('mailprobe check --check graph against the emulator', () => {
  test('healthy: sendMail, found in the INBOX by its x- header, deleted by id; the seeded mail stays', async () => {
    const run = await check(['graph']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /graph → 127\.0\.0\.1:\d+/);
    assert.match(run.stdout, /scope https:\/\/graph\.microsoft\.com\/\.default/, 'its own token, for Microsoft Graph');
    assert.match(run.stdout, /PASS graph in [\d.]+ s \(token [\d.]+s, send [\d.]+s, delivery [\d.]+s, cleanup [\d.]+s\)/);
    assert.match(run.stdout, /PASS graph .* cleanedUp=1\b/);
    assert.match(run.stdout, /PASS graph .* cleanup=deleted\b/);
    assertUntouched(run);
  });

  test('read-only: graphread lists the INBOX with Mail.ReadBasic.All alone and touches nothing', async () => {
    bed.model.setRoles(bed.tenantId, bed.clientId, ['Mail.ReadBasic.All'], 'graph');
    const run = await check(['graphread']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /PASS graphread in [\d.]+ s \(token [\d.]+s, list [\d.]+s\)\s+messageCount=1/);
    assertUntouched(run);
  });

  const faults: Array<{
    name: string;
    check?: CheckKind;
    mailbox?: string;
    apply(): void;
    fail: RegExp;
    server: RegExp;
    fix: RegExp[];
    not?: RegExp;
  }> = [
    {
      name: 'OData disabled (an application access policy keeps the app out)',
      apply: () => (bed.model.faults.graphOdataDisabled = [bed.mailbox]),
      fail: /FAIL graph at send: graph_access_blocked/,
      server: /server said: 403 ErrorAccessDenied: Access to OData is disabled\./,
      fix: [
        /Do not create a new application access policy/,
        /New-ManagementScope -Name "mailprobe-graph" -RecipientRestrictionFilter "PrimarySmtpAddress -eq 'probe@contoso\.onmicrosoft\.com'"/,
        /New-ManagementRoleAssignment -App \S+ -Role "Application Mail\.Send" -CustomResourceScope "mailprobe-graph"/,
        /Test-ServicePrincipalAuthorization -Identity \S+ -Resource probe@contoso\.onmicrosoft\.com/,
      ],
    },
    {
      name: 'REST not enabled for the mailbox',
      apply: () => (bed.model.faults.graphRestDisabled = [bed.mailbox]),
      fail: /FAIL graph at send: mailbox_not_enabled_for_rest/,
      server: /server said: 404 MailboxNotEnabledForRESTAPI: /,
      fix: [/Get-EXOMailbox -Identity probe@contoso\.onmicrosoft\.com/, /Exchange Online licence/],
    },
    {
      name: 'throttled (MailboxConcurrency) for longer than the check waits',
      apply: () => (bed.model.faults.graphThrottleSeconds = 120),
      fail: /FAIL graph at send: throttled/,
      server: /server said: 429 ApplicationThrottled: Application is over its MailboxConcurrency limit\./,
      fix: [/Wait 120000 ms/, /Microsoft Graph as app/],
    },
    {
      name: 'a wrong mailbox (ErrorInvalidUser)',
      mailbox: NOBODY,
      apply: () => undefined,
      fail: /FAIL graph at send: invalid_user/,
      server: /server said: 404 ErrorInvalidUser: The requested user 'nobody@contoso\.onmicrosoft\.com' is invalid\./,
      fix: [/Get-Mailbox -Identity nobody@contoso\.onmicrosoft\.com/],
    },
    {
      name: 'a wrong mailbox, read-only (ResourceNotFound)',
      check: 'graphread',
      mailbox: NOBODY,
      apply: () => undefined,
      fail: /FAIL graphread at list: invalid_user/,
      server: /server said: 404 ResourceNotFound: Resource could not be discovered\./,
      fix: [/Get-Mailbox -Identity nobody@contoso\.onmicrosoft\.com/],
    },
    {
      name: 'consent revoked: a token without any permission (NoPermissionsInAccessToken)',
      apply: () => bed.model.setRoles(bed.tenantId, bed.clientId, [], 'graph'),
      fail: /FAIL graph at send: role_missing/,
      server: /server said: 403 NoPermissionsInAccessToken: /,
      fix: [
        /New-ManagementRoleAssignment -App \S+ -Role "Application Mail\.Send" -CustomResourceScope "mailprobe-graph"/,
        /New-ManagementRoleAssignment -App \S+ -Role "Application Mail\.ReadWrite" -CustomResourceScope "mailprobe-graph"/,
        /Microsoft Graph → Application permissions → Mail\.Send, Mail\.ReadWrite → Grant admin consent/,
        /Do not create a new application access policy/,
      ],
    },
    {
      name: 'no Mail.* role in the token (403 Access is denied)',
      apply: () => bed.model.setRoles(bed.tenantId, bed.clientId, ['Application.Read.All'], 'graph'),
      fail: /FAIL graph at send: role_missing/,
      server: /server said: 403 ErrorAccessDenied: Access is denied\. Check credentials and try again\./,
      fix: [/New-ManagementScope/, /Test-ServicePrincipalAuthorization/, /Grant admin consent/],
      not: /Add-MailboxPermission|Set-CASMailbox/,
    },
    {
      name: 'an RBAC for Applications scope that leaves the mailbox out',
      apply: () => {
        bed.model.setRoles(bed.tenantId, bed.clientId, ['Application.Read.All'], 'graph');
        bed.model.setManagementScope(bed.tenantId, 'others-only', [OTHER]);
        bed.model.assignRole(bed.tenantId, bed.clientId, 'Application Mail.Send', 'others-only');
        bed.model.assignRole(bed.tenantId, bed.clientId, 'Application Mail.ReadWrite', 'others-only');
      },
      fail: /FAIL graph at send: role_missing/,
      server: /server said: 403 ErrorAccessDenied: Access is denied\./,
      fix: [
        /New-ManagementScope -Name "mailprobe-graph"/,
        /Test-ServicePrincipalAuthorization -Identity \S+ -Resource probe@contoso\.onmicrosoft\.com {3}\(InScope must be True/,
      ],
    },
  ];
  for (const fault of faults) {
    test(`fault: ${fault.name}`, async () => {
      fault.apply();
      const run = await check([fault.check ?? 'graph'], { ...(fault.mailbox ? { mailbox: fault.mailbox } : {}), deadlineSeconds: 2 });
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(run.stdout, fault.fail);
      assert.match(run.stdout, fault.server);
      for (const fix of fault.fix) assert.match(fixes(run.stdout), fix, run.stdout);
      if (fault.not) assert.doesNotMatch(run.stdout, fault.not);
      assert.doesNotMatch(run.stdout, /eyJ[\w-]{20,}\./, 'no token in the output');
      assertUntouched(run);
    });
  }

  test('granted in Exchange only (RBAC scope holds the mailbox): passes, authorised by Exchange', async () => {
    bed.model.setRoles(bed.tenantId, bed.clientId, ['Application.Read.All'], 'graph');
    bed.model.setManagementScope(bed.tenantId, 'probe-only', [bed.mailbox]);
    bed.model.assignRole(bed.tenantId, bed.clientId, 'Application Mail.Send', 'probe-only');
    bed.model.assignRole(bed.tenantId, bed.clientId, 'Application Mail.ReadWrite', 'probe-only');
    const run = await check(['graph']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /PASS graph/);
    assert.match(run.stdout, /Mail\.Send, Mail\.ReadWrite/);
    assertUntouched(run);
  });
});
