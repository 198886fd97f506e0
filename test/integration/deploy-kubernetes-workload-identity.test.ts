import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { federatedTokenPath } from '../../src/auth/federated.js';
import { parseConfig } from '../../src/config/load.js';
import { assertValidManifests, renderOverlay, type Manifest } from '../support/kubernetes.js';
import { repoPath } from '../support/promtool.js';

// The workload-identity overlay as kubectl applies it: valid objects, no credentials Secret anywhere, the service
// account annotated with the app it signs in as, and the projected token where monitors.json will read it.

interface Pod {
  serviceAccountName: string;
  containers: Array<{
    env: Array<{ name: string; value?: string }>;
    envFrom?: unknown;
    volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  }>;
  volumes: Array<{ name: string; projected?: { sources: Array<{ serviceAccountToken?: { path: string; audience: string; expirationSeconds: number } }> } }>;
}

const work = mkdtempSync(join(tmpdir(), 'mailprobe-k8s-wi-'));
let manifests: Manifest[] = [];

before(async () => {
  cpSync(repoPath('deploy/kubernetes'), join(work, 'kubernetes'), { recursive: true });
  const overlay = join(work, 'kubernetes/overlays/workload-identity');
  writeFileSync(join(overlay, 'probe-id.key'), `${randomBytes(32).toString('hex')}\n`);
  manifests = await renderOverlay(overlay);
});

after(() => rmSync(work, { recursive: true, force: true }));

function one(kind: string): Manifest {
  const found = manifests.filter((manifest) => manifest.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0]!;
}

describe('Kubernetes workload-identity overlay (deploy/kubernetes/overlays/workload-identity)', () => {
  test('every object validates, and the only Secret is the probe-id key', () => {
    assertValidManifests(manifests);
    assert.deepEqual(
      manifests.filter((manifest) => manifest.kind === 'Secret').map((secret) => secret.metadata.name),
      ['mailprobe-probe-id'],
    );
    const pod = (one('StatefulSet') as Manifest & { spec: { template: { spec: Pod } } }).spec.template.spec;
    assert.equal(pod.containers[0]?.envFrom, undefined, 'no credentials Secret in the environment');
  });

  test('the service account names the app monitors.json signs in as, and the token is projected where it is read', () => {
    const account = one('ServiceAccount');
    const config = one('ConfigMap') as Manifest & { data: Record<string, string> };
    const loaded = parseConfig(config.data['monitors.json'] ?? '', '/etc/mailprobe/monitors.json');
    const tenants = [...loaded.tenants.values()];
    assert.ok(tenants.length > 0);
    for (const tenant of tenants) {
      assert.equal(tenant.credential.type, 'federated');
      assert.equal(account.metadata.annotations?.['azure.workload.identity/client-id'], tenant.clientId);
    }

    const pod = (one('StatefulSet') as Manifest & { spec: { template: { spec: Pod } } }).spec.template.spec;
    assert.equal(pod.serviceAccountName, account.metadata.name);
    const [container] = pod.containers;
    assert.ok(container);
    const tokenFile = container.env.find((env) => env.name === 'AZURE_FEDERATED_TOKEN_FILE')?.value;
    const volume = pod.volumes.find((candidate) => candidate.projected?.sources.some((source) => source.serviceAccountToken));
    const projected = volume?.projected?.sources.find((source) => source.serviceAccountToken)?.serviceAccountToken;
    assert.deepEqual(projected && { audience: projected.audience, expirationSeconds: projected.expirationSeconds }, {
      audience: 'api://AzureADTokenExchange',
      expirationSeconds: 3600,
    });
    const mount = container.volumeMounts.find((candidate) => candidate.name === volume?.name);
    assert.equal(mount?.readOnly, true);
    assert.equal(tokenFile, `${mount?.mountPath}/${projected?.path}`);
    // What the agent will read: the tenant names no file, so the variable the pod sets decides.
    const [first] = tenants;
    if (first?.credential.type === 'federated')
      assert.equal(federatedTokenPath(first.credential, first.baseDir, { AZURE_FEDERATED_TOKEN_FILE: tokenFile }), tokenFile);
  });
});
