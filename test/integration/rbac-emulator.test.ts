import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../support/cli.js';
import { startEmulatorBed, type EmulatorBed } from '../support/emulator-bed.js';
import { writeMonitors } from '../support/monitors.js';
import type { CheckKind } from '../../src/core/check.js';
import { DEMO_SCRIPT, startDemoEnvironment } from '../../src/sandbox/demo.js';

// Issue 21's "Done when", against the Exchange Online emulator: an app granted SMTP through Exchange RBAC for
// Applications (a management scope, no Entra SMTP.SendAsApp in its token) is judged by the server, not the token.

interface JsonResult {
  check: string;
  outcome: { ok: boolean; failure?: { stage: string; reason: string; serverText?: string } };
  diagnosis?: { reason: string; summary: string; fixes: string[] };
  authorisation?: { entraRoles: string[]; exchangeGranted: string[] };
}

const OUTSIDE = 'outside@contoso.onmicrosoft.com';
let bed: EmulatorBed;

before(async () => {
  bed = await startEmulatorBed({
    domain: 'contoso.onmicrosoft.com',
    // Entra consent for IMAP only; SMTP comes from Exchange, over a scope that holds the probe mailbox alone.
    apps: [{ roles: ['IMAP.AccessAsApp'] }],
    mailboxes: [{ address: 'probe@contoso.onmicrosoft.com' }, { address: OUTSIDE }],
  });
  bed.model.setManagementScope(bed.tenantId, 'mailprobe', [bed.mailbox]);
  bed.model.assignRole(bed.tenantId, bed.clientId, 'Application SMTP.SendAsApp', 'mailprobe');
});

after(() => bed?.close());

async function check(mailbox: string, checks: CheckKind[], authorization?: 'rbac'): Promise<JsonResult> {
  const { file } = writeMonitors(bed, { monitors: [{ name: 'rbac', mailbox, checks }], ...(authorization ? { tenantExtra: { authorization } } : {}) });
  const run = await runCli(['check', '--config', file, '--json']);
  const results = JSON.parse(run.stdout) as { results: JsonResult[] } | JsonResult[];
  const list = Array.isArray(results) ? results : results.results;
  const [result] = list;
  assert.ok(result, run.stdout + run.stderr);
  return result;
}

describe('RBAC for Applications against the emulator', () => {
  test('an RBAC-scoped SMTP monitor whose token has no SMTP role passes, authorised by Exchange', async () => {
    const result = await check(bed.mailbox, ['smtp'], 'rbac');
    assert.equal(result.outcome.ok, true, JSON.stringify(result));
    assert.deepEqual(result.authorisation, { entraRoles: [], exchangeGranted: ['SMTP.SendAsApp'] });
  });

  test('the same monitor outside the scope fails with the management-scope route and the additive-grant warning', async () => {
    const result = await check(OUTSIDE, ['smtp'], 'rbac');
    assert.equal(result.outcome.ok, false);
    assert.equal(result.outcome.failure?.stage, 'auth');
    assert.match(result.outcome.failure?.serverText ?? '', /^535 5\.7\.3 Authentication unsuccessful/);
    assert.equal(result.diagnosis?.reason, 'role_missing');
    const fixes = result.diagnosis?.fixes.join('\n') ?? '';
    assert.match(fixes, new RegExp(`Test-ServicePrincipalAuthorization -Identity ${bed.clientId} -Resource ${OUTSIDE}`));
    assert.match(fixes, /New-ManagementScope -Name "mailprobe-rbac" -RecipientRestrictionFilter "PrimarySmtpAddress -eq 'outside@contoso\.onmicrosoft\.com'"/);
    assert.match(
      fixes,
      new RegExp(`New-ManagementRoleAssignment -App ${bed.clientId} -Role "Application SMTP\\.SendAsApp" -CustomResourceScope "mailprobe-rbac"`),
    );
    assert.match(fixes, /Entra and RBAC grants add up/);
    assert.match(fixes, /up to an hour/);
    assert.doesNotMatch(fixes, /ApplicationAccessPolicy|adminconsent/);
  });

  test('undeclared, outside the scope: the RBAC route first, then the Entra permission with the warning', async () => {
    const result = await check(OUTSIDE, ['smtp']);
    assert.equal(result.diagnosis?.reason, 'role_missing');
    const fixes = result.diagnosis?.fixes ?? [];
    assert.match(fixes[0] ?? '', /^Least privilege, only the monitored mailboxes \(Exchange RBAC for Applications\): New-ManagementScope/);
    const entra = fixes.findIndex((fix) => fix.startsWith('Or every mailbox of the tenant (Entra)'));
    assert.ok(entra > 0, fixes.join('\n'));
    assert.match(fixes[entra] ?? '', /Warning: Entra and RBAC grants add up/);
  });

  test('an IMAP monitor without the role still fails, with the consent fix', async () => {
    bed.model.setRoles(bed.tenantId, bed.clientId, []);
    try {
      const result = await check(bed.mailbox, ['imap'], 'rbac');
      assert.equal(result.outcome.failure?.stage, 'auth');
      assert.match(result.outcome.failure?.serverText ?? '', /NO AUTHENTICATE failed\./);
      assert.equal(result.diagnosis?.reason, 'role_missing');
      const fixes = result.diagnosis?.fixes.join('\n') ?? '';
      assert.match(fixes, /IMAP\.AccessAsApp → Grant admin consent/);
      assert.match(fixes, new RegExp(`adminconsent\\?client_id=${bed.clientId}`));
      assert.match(fixes, /Add-MailboxPermission/);
      assert.doesNotMatch(fixes, /ManagementRoleAssignment|ApplicationAccessPolicy/);
    } finally {
      bed.model.setRoles(bed.tenantId, bed.clientId, ['IMAP.AccessAsApp']);
    }
  });

  test('doctor on the RBAC-scoped monitor: roles warn, SMTP passes authorised by Exchange; an Entra SMTP role is warned about', async () => {
    const { file } = writeMonitors(bed, { monitors: [{ name: 'rbac', checks: ['smtp'] }], tenantExtra: { authorization: 'rbac' } });
    const clean = JSON.parse((await runCli(['doctor', '--config', file, '--json'])).stdout) as {
      ok: boolean;
      monitors: Array<{ steps: Array<{ id: string; verdict: string; detail?: string }> }>;
    };
    const steps = clean.monitors[0]!.steps;
    assert.equal(clean.ok, true);
    assert.equal(steps.find((step) => step.id === 'roles')?.verdict, 'warn');
    assert.equal(steps.find((step) => step.id === 'rbac')?.verdict, 'pass');
    assert.match(steps.find((step) => step.id === 'smtp_auth')?.detail ?? '', /authorised by Exchange itself/);
    bed.model.setRoles(bed.tenantId, bed.clientId, ['IMAP.AccessAsApp', 'SMTP.SendAsApp']);
    try {
      const widened = JSON.parse((await runCli(['doctor', '--config', file, '--json'])).stdout) as typeof clean;
      const rbac = widened.monitors[0]!.steps.find((step) => step.id === 'rbac');
      assert.equal(rbac?.verdict, 'warn');
      assert.match(rbac?.detail ?? '', /may send as every mailbox in the tenant/);
    } finally {
      bed.model.setRoles(bed.tenantId, bed.clientId, ['IMAP.AccessAsApp']);
    }
  });
});

describe('the demo', () => {
  test('woodgrove-notify passes over SMTP with a role-less token; once the script takes woodgrove-billing out of the scope, it fails with the RBAC fix', async () => {
    const env = await startDemoEnvironment({ schedule: '*/10 * * * * *', checks: ['imap', 'smtp'], listen: '127.0.0.1:0' });
    try {
      const run = async (monitor: string): Promise<JsonResult> => {
        const { stdout } = await runCli(['check', '--config', env.config.file, '--monitor', monitor, '--json']);
        const parsed = JSON.parse(stdout) as { results: JsonResult[] } | JsonResult[];
        const [result] = Array.isArray(parsed) ? parsed : parsed.results;
        assert.ok(result, stdout);
        return result;
      };
      const notify = await run('woodgrove-notify');
      assert.equal(notify.check, 'smtp');
      assert.equal(notify.outcome.ok, true, JSON.stringify(notify));
      assert.deepEqual(notify.authorisation?.exchangeGranted, ['SMTP.SendAsApp']);
      assert.equal((await run('woodgrove-billing')).outcome.ok, true, 'in the scope at the start');
      const leaves = DEMO_SCRIPT.find((event) => event.description.startsWith('woodgrove: billing leaves'));
      assert.ok(leaves);
      await leaves.apply(env);
      const billing = await run('woodgrove-billing');
      assert.equal(billing.outcome.ok, false);
      assert.match(billing.diagnosis?.summary ?? '', /granted SMTP through Exchange RBAC \(authorization "rbac"\)/);
      assert.match(
        billing.diagnosis?.fixes.join('\n') ?? '',
        /Test-ServicePrincipalAuthorization[\s\S]*New-ManagementScope[\s\S]*Entra and RBAC grants add up/,
      );
    } finally {
      await env.close();
    }
  });
});
