import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startEmulatorBed, type EmulatorBed } from '../support/emulator-bed.js';
import { doctorSteps, type DoctorStep } from '../support/doctor.js';
import { writeMonitors } from '../support/monitors.js';
import { startIdentityEndpoint, type IdentityEndpointServer } from '../../src/sandbox/identity.js';

// A monitor whose app trusts a managed identity (a federated credential with the tenant as issuer and the
// identity's principal ID as subject), the identity's token coming from an emulated identity endpoint on
// loopback in both forms the Azure SDKs use. Every request goes to 127.0.0.1: the endpoint or IDENTITY_ENDPOINT is
// always given, so nothing here ever falls back to 169.254.169.254.

const TENANT_ID = '7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f';
const MI_CLIENT = '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a';
const PRINCIPAL = '8f9a0b1c-2d3e-4f5a-8b6c-7d8e9f0a1b2c';
const OTHER_PRINCIPAL = '0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d';
const OTHER_CLIENT = '4f5a6b7c-8d9e-4f0a-9b1c-2d3e4f5a6b7c';

let bed: EmulatorBed;
let identity: IdentityEndpointServer;

before(async () => {
  bed = await startEmulatorBed({
    tenantId: TENANT_ID,
    domain: 'contoso.onmicrosoft.com',
    mailboxes: [{ address: 'probe@contoso.onmicrosoft.com' }],
    apps: [{ secrets: [], federatedCredentials: [{ name: 'mi', issuer: `https://login.microsoftonline.com/${TENANT_ID}/v2.0`, subject: PRINCIPAL }] }],
  });
  identity = await startIdentityEndpoint({
    model: bed.model,
    tenantId: TENANT_ID,
    identities: [
      { clientId: MI_CLIENT, principalId: PRINCIPAL },
      { clientId: OTHER_CLIENT, principalId: OTHER_PRINCIPAL },
    ],
  });
});

after(async () => {
  await identity?.close();
  await bed?.close();
});

async function doctor(credential: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) {
  const { file } = writeMonitors(bed, { monitors: [{ name: 'mi', checks: ['imap', 'pop3', 'smtp'] }], tenantExtra: { credential } });
  return doctorSteps(file, env);
}

function allPass(steps: DoctorStep[]): boolean {
  return steps.filter((step) => step.verdict !== 'skipped').every((step) => step.verdict === 'pass');
}

describe('a managed-identity monitor against the emulators', () => {
  test('passes with the instance-metadata form (configured endpoint)', async () => {
    const before = identity.tokensIssued();
    const { run, steps } = await doctor({ type: 'managedIdentity', clientId: MI_CLIENT, endpoint: identity.imdsUrl });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.ok(allPass(steps), JSON.stringify(steps, null, 1));
    assert.match(steps[0]?.detail ?? '', new RegExp(`user-assigned managed identity ${MI_CLIENT} .*instance metadata form.*api://AzureADTokenExchange`));
    assert.ok(identity.tokensIssued() > before, 'the assertion came from the identity endpoint');
    const token = steps.find((step) => step.id === 'token');
    assert.match(token?.detail ?? '', /aud https:\/\/outlook\.office\.com/);
  });

  test('passes with the App Service form (IDENTITY_ENDPOINT and IDENTITY_HEADER)', async () => {
    const before = identity.tokensIssued();
    const { run, steps } = await doctor(
      { type: 'managedIdentity', clientId: MI_CLIENT },
      { IDENTITY_ENDPOINT: identity.appService.endpoint, IDENTITY_HEADER: identity.appService.header },
    );
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.ok(allPass(steps), JSON.stringify(steps, null, 1));
    assert.match(steps[0]?.detail ?? '', /App Service form/);
    assert.ok(identity.tokensIssued() > before);
    assert.ok(!run.stdout.includes(identity.appService.header), 'the identity header is a secret');
  });

  test('an identity not assigned here → managed_identity_unavailable with the endpoint’s words and the fixes', async () => {
    const { run, steps } = await doctor({ type: 'managedIdentity', clientId: '99999999-8888-4777-8666-555555555555', endpoint: identity.imdsUrl });
    assert.equal(run.code, 1);
    const first = steps.find((step) => step.verdict === 'fail');
    assert.equal(first?.id, 'token');
    assert.equal(first?.reason, 'managed_identity_unavailable');
    assert.equal(first?.serverText, 'Identity not found');
    assert.match(first?.diagnosis?.fixes.join('\n') ?? '', /az vm identity assign/);
    assert.match(first?.diagnosis?.fixes.join('\n') ?? '', new RegExp(`issuer https://${bed.entra.authorityHost}/${TENANT_ID}/v2\\.0`));
  });

  test('an identity the app does not trust → token_federated_subject_mismatch naming its principal ID', async () => {
    const { steps } = await doctor({ type: 'managedIdentity', clientId: OTHER_CLIENT, endpoint: identity.imdsUrl });
    const first = steps.find((step) => step.verdict === 'fail');
    assert.equal(first?.reason, 'token_federated_subject_mismatch');
    assert.match(first?.serverText ?? '', new RegExp(`^AADSTS700213: .*subject '${OTHER_PRINCIPAL}'`));
    assert.match(first?.diagnosis?.fixes.join('\n') ?? '', new RegExp(`"subject":"${OTHER_PRINCIPAL}"`));
  });

  test('an unreachable identity endpoint → managed_identity_unavailable naming the endpoint', async () => {
    const { steps } = await doctor({ type: 'managedIdentity', clientId: MI_CLIENT, endpoint: 'http://127.0.0.1:9/metadata/identity/oauth2/token' });
    const first = steps.find((step) => step.verdict === 'fail');
    assert.equal(first?.reason, 'managed_identity_unavailable');
  });
});
