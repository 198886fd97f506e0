import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { parseAllDocuments } from 'yaml';

// Rendering a kustomize overlay as kubectl applies it, and checking each object against the Kubernetes and
// prometheus-operator schemas (kubernetes-models): shared by the tests of every shipped overlay.

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

type Validator = new (data: never) => { validate(): void };

const MODELS: Record<string, Validator> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/StatefulSet': StatefulSet,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

const run = promisify(execFile);

/** `kubectl kustomize <overlay>`, parsed. */
export async function renderOverlay(overlay: string): Promise<Manifest[]> {
  let rendered: string;
  try {
    rendered = (await run('kubectl', ['kustomize', overlay], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' })).stdout;
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new Error(code === 'ENOENT' ? 'kubectl not found: the Kubernetes tests render the overlay with `kubectl kustomize`' : String(error));
  }
  return parseAllDocuments(rendered).map((doc) => doc.toJS() as Manifest);
}

/** Every object validates against its schema and sits in the overlay's namespace, "monitoring". */
export function assertValidManifests(manifests: readonly Manifest[]): void {
  for (const manifest of manifests) {
    const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
    assert.ok(Model, `no schema for ${manifest.apiVersion} ${manifest.kind}`);
    assert.doesNotThrow(() => new Model(schemaView(manifest) as never).validate(), `${manifest.kind}/${manifest.metadata.name}`);
    assert.equal(manifest.metadata.namespace, 'monitoring', `${manifest.kind} in the overlay's namespace`);
  }
}

/**
 * kustomize wraps a long Secret value's base64 over several lines. The API server decodes it with Go's
 * base64, which skips newlines, but the schema's "byte" format does not; the joined value is what it stores.
 */
function schemaView(manifest: Manifest): Manifest {
  if (manifest.kind !== 'Secret' || typeof manifest.data !== 'object' || manifest.data === null) return manifest;
  const data = Object.fromEntries(Object.entries(manifest.data as Record<string, string>).map(([key, value]) => [key, value.replace(/\s+/g, '')]));
  return { ...manifest, data };
}
