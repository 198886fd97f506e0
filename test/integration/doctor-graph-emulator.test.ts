import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { doctorSteps, type DoctorStep } from '../support/doctor.js';
import { startEmulatorBed, type EmulatorBed } from '../support/emulator-bed.js';
import { writeMonitors } from '../support/monitors.js';

// `mailprobe doctor` walks the Microsoft Graph setup of a monitor with IMAP, SMTP and Graph checks, against the
// emulators: the Exchange token and its roles, then Graph's own token and permissions (Entra consent or Exchange
// RBAC for Applications), then Graph's steps: send, arrival, cleanup.

let bed: EmulatorBed;

before(async () => {
  bed = await startEmulatorBed();
});

after(() => bed?.close());

beforeEach(() => {
  bed.model.resetFaults();
  bed.model.removeRoleAssignment(bed.tenantId, bed.clientId);
  bed.model.setRoles(bed.tenantId, bed.clientId, ['Application.Read.All', 'Mail.Send', 'Mail.ReadWrite'], 'graph');
});

async function doctor(): Promise<Record<string, DoctorStep>> {
  const { file } = writeMonitors(bed, { monitors: [{ name: 'graph', checks: ['imap', 'smtp', 'graph'] }] });
  const { run, steps } = await doctorSteps(file);
  assert.ok(steps.length > 0, run.stdout + run.stderr);
  return Object.fromEntries(steps.map((step) => [step.id, step]));
}

const verdicts = (steps: Record<string, DoctorStep>, ids: string[]): string[] => ids.map((id) => `${id} ${steps[id]?.verdict ?? 'absent'}`);

const GRAPH_STEPS = ['graph_token', 'graph_roles', 'graph_send', 'graph_arrival', 'graph_cleanup'];

describe('doctor walks the Graph setup', () => {
  test('healthy: the Exchange roles are judged on the Exchange token, Graph’s permissions on Graph’s, every step passes', async () => {
    const steps = await doctor();
    assert.deepEqual(verdicts(steps, ['token', 'roles', 'imap_auth', 'smtp_send', ...GRAPH_STEPS]), [
      'token pass',
      'roles pass',
      'imap_auth pass',
      'smtp_send pass',
      ...GRAPH_STEPS.map((id) => `${id} pass`),
    ]);
    assert.doesNotMatch(steps.roles?.detail ?? '', /Mail\.Send/, 'Graph’s permissions are not asked of the Exchange token');
    assert.match(steps.graph_roles?.detail ?? '', /Mail\.ReadWrite/);
    assert.equal(steps.graph_read?.verdict ?? 'absent', 'absent');
    assert.equal(steps.graph_list?.verdict, 'skipped');
  });

  test('OData disabled for the mailbox: Graph’s send step fails with the RBAC route, nothing after it is reached', async () => {
    bed.model.faults.graphOdataDisabled = [bed.mailbox];
    const steps = await doctor();
    assert.deepEqual(verdicts(steps, ['smtp_send', ...GRAPH_STEPS]), [
      'smtp_send pass',
      'graph_token pass',
      'graph_roles pass',
      'graph_send fail',
      'graph_arrival not_reached',
      'graph_cleanup not_reached',
    ]);
    assert.equal(steps.graph_send?.reason, 'graph_access_blocked');
    const fixes = steps.graph_send?.diagnosis?.fixes.join('\n') ?? '';
    assert.match(fixes, /Do not create a new application access policy/);
    assert.match(fixes, /New-ManagementRoleAssignment -App \S+ -Role "Application Mail\.Send" -CustomResourceScope "mailprobe-graph"/);
  });

  test('no Graph permission in Entra, granted by an RBAC scope holding the mailbox: the permissions step warns, the steps pass', async () => {
    bed.model.setRoles(bed.tenantId, bed.clientId, ['Application.Read.All'], 'graph');
    bed.model.setManagementScope(bed.tenantId, 'probe-only', [bed.mailbox]);
    bed.model.assignRole(bed.tenantId, bed.clientId, 'Application Mail.Send', 'probe-only');
    bed.model.assignRole(bed.tenantId, bed.clientId, 'Application Mail.ReadWrite', 'probe-only');
    const steps = await doctor();
    assert.deepEqual(verdicts(steps, GRAPH_STEPS), ['graph_token pass', 'graph_roles warn', 'graph_send pass', 'graph_arrival pass', 'graph_cleanup pass']);
    assert.match(steps.graph_roles?.detail ?? '', /not in the token: Mail\.Send, Mail\.ReadWrite .*Test-ServicePrincipalAuthorization/);
  });

  test('no Graph permission anywhere: the permissions step warns, the send step fails with consent-or-RBAC fixes', async () => {
    bed.model.setRoles(bed.tenantId, bed.clientId, ['Application.Read.All'], 'graph');
    const steps = await doctor();
    assert.deepEqual(verdicts(steps, ['smtp_send', 'graph_roles', 'graph_send']), ['smtp_send pass', 'graph_roles warn', 'graph_send fail']);
    assert.equal(steps.graph_send?.reason, 'role_missing');
    assert.match(steps.graph_send?.diagnosis?.summary ?? '', /consent in Entra or by an RBAC for Applications assignment in Exchange/);
    const fixes = steps.graph_send?.diagnosis?.fixes.join('\n') ?? '';
    assert.match(fixes, /New-ManagementScope -Name "mailprobe-graph"/);
    assert.match(fixes, /Microsoft Graph → Application permissions → Mail\.Send, Mail\.ReadWrite/);
  });
});
