import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmulatorBed, type EmulatorBed } from '../support/emulator-bed.js';
import { runCli } from '../support/cli.js';
import { doctorSteps, type DoctorStep } from '../support/doctor.js';
import { writeMonitors } from '../support/monitors.js';

// A monitor whose app signs in with workload identity federation (a Kubernetes projected service-account token
// as client_assertion), against the Entra and Exchange emulators: it passes, and each mismatch between the
// token and the app's federated credential fails with its own reason and the command that fixes it.

const ISSUER = 'https://westeurope.oic.prod-aks.azure.com/0f1e2d3c-4b5a-4697-8877-665544332211/6b1c7a52-3f0e-4d6a-9b7e-1f2a3b4c5d6e/';
const SUBJECT = 'system:serviceaccount:monitoring:mailprobe';
const AUDIENCE = 'api://AzureADTokenExchange';

let bed: EmulatorBed;

before(async () => {
  bed = await startEmulatorBed({
    domain: 'contoso.onmicrosoft.com',
    mailboxes: [{ address: 'probe@contoso.onmicrosoft.com' }],
    apps: [{ secrets: [], federatedCredentials: [{ name: 'aks', issuer: ISSUER, subject: SUBJECT }] }],
  });
});

after(() => bed?.close());

async function doctor(token: { issuer?: string; subject?: string; audience?: string | string[] } | null) {
  const { file, dir } = writeMonitors(bed, {
    monitors: [{ name: 'wi', checks: ['imap', 'smtp'] }],
    tenantExtra: { credential: { type: 'federated', tokenFile: 'azure-identity-token' } },
  });
  if (token) {
    const jwt = bed.model.issueExternalToken({ issuer: token.issuer ?? ISSUER, subject: token.subject ?? SUBJECT, audience: token.audience ?? [AUDIENCE] });
    writeFileSync(join(dir, 'azure-identity-token'), jwt);
  }
  return doctorSteps(file);
}

function firstFailure(steps: DoctorStep[]): DoctorStep {
  const first = steps.find((step) => step.verdict === 'fail');
  assert.ok(first, JSON.stringify(steps, null, 1));
  return first;
}

describe('a federated (workload identity) monitor against the emulators', () => {
  test('passes every step, and doctor shows what Entra matches: issuer, subject, audience', async () => {
    const { run, steps } = await doctor({});
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.ok(
      steps.filter((step) => step.verdict !== 'skipped').every((step) => step.verdict === 'pass'),
      JSON.stringify(steps, null, 1),
    );
    const credential = steps.find((step) => step.id === 'config');
    assert.match(credential?.detail ?? '', new RegExp(`issuer ${ISSUER.replace(/[.]/g, '\\.')}, subject ${SUBJECT}, audience ${AUDIENCE}`));
    assert.doesNotMatch(run.stdout, /eyJ[A-Za-z0-9_-]{20,}/, 'the assertion itself is never printed');
  });

  test('a subject the federated credential does not name → token_federated_subject_mismatch with the create command', async () => {
    const { run, steps } = await doctor({ subject: 'system:serviceaccount:default:mailprobe' });
    assert.equal(run.code, 1);
    const first = firstFailure(steps);
    assert.equal(first.id, 'token');
    assert.equal(first.reason, 'token_federated_subject_mismatch');
    assert.match(
      first.serverText ?? '',
      /^AADSTS700213: No matching federated identity record found for presented assertion subject 'system:serviceaccount:default:mailprobe'\./,
    );
    const fixes = first.diagnosis?.fixes.join('\n') ?? '';
    assert.match(
      fixes,
      /az ad app federated-credential create --id [0-9a-f-]{36} --parameters '\{"name":"mailprobe","issuer":"<issuer of the token file>","subject":"system:serviceaccount:default:mailprobe","audiences":\["api:\/\/AzureADTokenExchange"\]\}'/,
    );
    assert.match(fixes, /az ad app federated-credential list/);
  });

  test('a subject that differs only in case → AADSTS7002138, the same reason', async () => {
    const { steps } = await doctor({ subject: SUBJECT.replace('monitoring', 'Monitoring') });
    const first = firstFailure(steps);
    assert.equal(first.reason, 'token_federated_subject_mismatch');
    assert.match(first.serverText ?? '', /^AADSTS7002138: .*case-insensitive comparison, but not with case-sensitive comparison/);
  });

  test('a token for another audience → token_federated_audience_mismatch, told which audience to project', async () => {
    const { steps } = await doctor({ audience: 'api://kubernetes' });
    const first = firstFailure(steps);
    assert.equal(first.id, 'token');
    assert.equal(first.reason, 'token_federated_audience_mismatch');
    assert.match(
      first.serverText ?? '',
      /^AADSTS70021: No matching federated identity record found for presented assertion\. Assertion Issuer: '.+'\. Assertion Subject: 'system:serviceaccount:monitoring:mailprobe'\. Assertion Audience: 'api:\/\/kubernetes'\./,
    );
    assert.match(first.diagnosis?.summary ?? '', /audience api:\/\/kubernetes, not api:\/\/AzureADTokenExchange/);
    assert.match(first.diagnosis?.fixes.join('\n') ?? '', /serviceAccountToken\.audience to api:\/\/AzureADTokenExchange/);
  });

  test('an issuer no federated credential trusts → token_federated_issuer_unknown', async () => {
    const { steps } = await doctor({ issuer: 'https://oidc.example.net/other-cluster' });
    const first = firstFailure(steps);
    assert.equal(first.reason, 'token_federated_issuer_unknown');
    assert.match(first.serverText ?? '', /^AADSTS700211: .*issuer 'https:\/\/oidc\.example\.net\/other-cluster'/);
    assert.match(first.diagnosis?.fixes.join('\n') ?? '', /"issuer":"https:\/\/oidc\.example\.net\/other-cluster"/);
  });

  test('no token file → the credential step fails and names the file, nothing is sent', async () => {
    const before = bed.entra.tokenRequests();
    const { run, steps } = await doctor(null);
    assert.equal(run.code, 1);
    const first = firstFailure(steps);
    assert.equal(first.id, 'config');
    assert.match(first.detail ?? '', /cannot read token file .*azure-identity-token: ENOENT/);
    assert.equal(bed.entra.tokenRequests(), before);
  });

  test('validate warns about a missing token file and about AZURE_FEDERATED_TOKEN_FILE when no tokenFile is set', async () => {
    const { file } = writeMonitors(bed, { tenantExtra: { credential: { type: 'federated' } } });
    const unset = await runCli(['validate', '--config', file]);
    assert.equal(unset.code, 0);
    assert.match(unset.stderr, /tenants\.bed\.credential\.tokenFile.*no tokenFile configured and AZURE_FEDERATED_TOKEN_FILE is not set/);
    const token = join(file, '..', 'from-env.token');
    writeFileSync(token, bed.model.issueExternalToken({ issuer: ISSUER, subject: SUBJECT, audience: AUDIENCE }));
    const set = await runCli(['validate', '--config', file], { AZURE_FEDERATED_TOKEN_FILE: token });
    assert.doesNotMatch(set.stderr, /tokenFile/);
  });
});
