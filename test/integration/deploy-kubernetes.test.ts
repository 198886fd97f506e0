import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StatefulSet } from 'kubernetes-models/apps/v1';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { resolveShard } from '../../src/config/shard.js';
import { PROMETHEUS_RULE_FILE, prometheusRuleYaml, shippedRuleGroups } from '../../scripts/prometheusrule.js';
import { assertValidManifests, renderOverlay, type Manifest } from '../support/kubernetes.js';
import { repoPath, REPO_ROOT } from '../support/promtool.js';

// The manifests as kubectl applies them: the example overlay rendered by kustomize (kubectl's built-in
// kustomize, which this kind of machine ships), every object checked against the Kubernetes and
// prometheus-operator schemas (kubernetes-models), then what the schemas cannot say.

const work = mkdtempSync(join(tmpdir(), 'mailprobe-k8s-'));
let manifests: Manifest[] = [];

function one(kind: string): Manifest {
  const found = manifests.filter((manifest) => manifest.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0]!;
}

// Paths into the rendered objects, typed only as far as the assertions read them.
interface Container {
  image: string;
  args: string[];
  env: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  ports: Array<{ name: string; containerPort: number }>;
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  startupProbe: { httpGet: { path: string; port: string } };
  securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean; runAsNonRoot: boolean; capabilities: { drop: string[] } };
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  envFrom?: unknown[];
}
interface StatefulSetShape {
  spec: {
    replicas: number;
    serviceName: string;
    template: {
      metadata: { labels: Record<string, string> };
      spec: { securityContext: { runAsNonRoot: boolean; runAsUser: number }; automountServiceAccountToken: boolean; containers: Container[] };
    };
  };
}

before(async () => {
  // What a user does with the example: fill in credentials.env and make a probe-id key (both kept out of git).
  cpSync(repoPath('deploy/kubernetes'), join(work, 'kubernetes'), { recursive: true });
  const overlay = join(work, 'kubernetes/overlays/example');
  copyFileSync(join(overlay, 'credentials.env.example'), join(overlay, 'credentials.env'));
  writeFileSync(join(overlay, 'probe-id.key'), `${randomBytes(32).toString('hex')}\n`);
  manifests = await renderOverlay(overlay);
});

after(() => rmSync(work, { recursive: true, force: true }));

describe('Kubernetes manifests (deploy/kubernetes, example overlay)', () => {
  test('every rendered object validates against its Kubernetes or prometheus-operator schema', () => {
    assert.deepEqual(manifests.map((manifest) => manifest.kind).sort(), [
      'ConfigMap',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'PrometheusRule',
      'Secret',
      'Secret',
      'Service',
      'ServiceAccount',
      'ServiceMonitor',
      'StatefulSet',
    ]);
    assertValidManifests(manifests);
  });

  test('the schemas do reject a broken object', () => {
    const broken = structuredClone(one('StatefulSet')) as Manifest & StatefulSetShape;
    (broken.spec as { replicas: unknown }).replicas = 'three';
    assert.throws(() => new StatefulSet(broken as never).validate(), /replicas/);
  });

  test('the StatefulSet: one pod per shard, non-root, read-only root, no capabilities, probes on /healthz and /readyz', () => {
    const set = one('StatefulSet') as Manifest & StatefulSetShape;
    const pod = set.spec.template.spec;
    const [container] = pod.containers;
    assert.ok(container);
    assert.equal(set.spec.replicas, 3);
    const total = container.env.find((env) => env.name === 'MAILPROBE_TOTAL_SHARDS')?.value;
    assert.equal(total, String(set.spec.replicas), 'MAILPROBE_TOTAL_SHARDS equals the replica count');
    assert.equal(container.env.find((env) => env.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
    // Scraped on the pod IP without a credential, which the agent refuses unless told; the NetworkPolicy admits only Prometheus.
    assert.equal(container.env.find((env) => env.name === 'MAILPROBE_INSECURE_LISTEN')?.value, 'true');
    // The pod names the StatefulSet gives are the shards mailprobe reads from them.
    for (let ordinal = 0; ordinal < set.spec.replicas; ordinal++) {
      const shard = resolveShard({
        flags: {},
        env: { POD_NAME: `${set.metadata.name}-${ordinal}`, MAILPROBE_TOTAL_SHARDS: total },
        agent: {},
        file: 'monitors.json',
      });
      assert.deepEqual([shard.index, shard.total], [ordinal, 3]);
    }
    assert.equal(container.image, 'registry.example.internal/mailprobe:0.1.0');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, 10001, 'the image’s user');
    assert.equal(pod.automountServiceAccountToken, false);
    assert.deepEqual(container.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    assert.deepEqual(
      [container.livenessProbe.httpGet.path, container.startupProbe.httpGet.path, container.readinessProbe.httpGet.path],
      ['/healthz', '/healthz', '/readyz'],
    );
    assert.deepEqual(container.ports, [{ name: 'metrics', containerPort: 9465 }]);
    const mounts = new Map(container.volumeMounts.map((mount) => [mount.mountPath, mount]));
    for (const path of ['/var/lib/mailprobe', '/tmp']) assert.ok(mounts.get(path) && !mounts.get(path)?.readOnly, `${path} writable`);
    assert.equal(mounts.get('/etc/mailprobe')?.readOnly, true);
  });

  test('monitors.json in the ConfigMap is a valid mailprobe config that reads the shared probe-id key from the Secret', () => {
    const config = one('ConfigMap') as Manifest & { data: Record<string, string> };
    const text = config.data['monitors.json'];
    assert.ok(text);
    const loaded = parseConfig(text, '/etc/mailprobe/monitors.json');
    const set = one('StatefulSet') as Manifest & StatefulSetShape;
    const keyMount = set.spec.template.spec.containers[0]?.volumeMounts.find((mount) => mount.name === 'probe-id');
    assert.ok(keyMount?.readOnly);
    for (const monitor of loaded.monitors) assert.equal(monitor.probeMail?.probeIdKeyFile, `${keyMount.mountPath}/probe-id.key`);
    const secret = manifests.find((manifest) => manifest.metadata.name === 'mailprobe-probe-id') as Manifest & { data: Record<string, string> };
    assert.match(Buffer.from(secret.data['probe-id.key'] ?? '', 'base64').toString('utf8'), /^[0-9a-f]{64}\n$/);
  });

  // Issue 25 row 12: client secrets came through envFrom, so every child process inherited them and a rotated
  // Secret needed a restart.
  test('client secrets are files of a read-only Secret volume, named in monitors.json as {"file": …}', () => {
    const set = one('StatefulSet') as Manifest &
      StatefulSetShape & { spec: { template: { spec: { volumes: Array<{ name: string; secret?: { secretName: string } }> } } } };
    const container = set.spec.template.spec.containers[0];
    assert.ok(container);
    assert.equal(container.envFrom, undefined, 'no secret in the environment');
    const mount = container.volumeMounts.find((candidate) => candidate.name === 'credentials');
    assert.ok(mount?.readOnly);
    assert.equal(set.spec.template.spec.volumes.find((volume) => volume.name === 'credentials')?.secret?.secretName, 'mailprobe-credentials');
    const text = (one('ConfigMap') as Manifest & { data: Record<string, string> }).data['monitors.json'] ?? '';
    const tenant = [...parseConfig(text, '/etc/mailprobe/monitors.json').tenants.values()][0];
    assert.ok(tenant?.credential.type === 'secret');
    assert.deepEqual(tenant.credential.secret, { file: `${mount.mountPath}/CONTOSO_CLIENT_SECRET` });
    const secret = manifests.find((manifest) => manifest.metadata.name === 'mailprobe-credentials') as Manifest & { data: Record<string, string> };
    assert.ok('CONTOSO_CLIENT_SECRET' in secret.data, 'the file the config names is a key of the Secret');
  });

  test('the ServiceMonitor scrapes the headless Service as job "mailprobe", which the shipped rules expect', () => {
    const service = one('Service') as Manifest & { spec: { clusterIP: string; selector: Record<string, string> } };
    const monitor = one('ServiceMonitor') as Manifest & {
      spec: { jobLabel: string; selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string }> };
    };
    assert.equal(service.spec.clusterIP, 'None');
    for (const [key, value] of Object.entries(monitor.spec.selector.matchLabels)) assert.equal(service.metadata.labels?.[key], value);
    assert.equal(service.metadata.labels?.[monitor.spec.jobLabel], 'mailprobe');
    assert.deepEqual(
      monitor.spec.endpoints.map((endpoint) => endpoint.port),
      ['metrics'],
    );
    const set = one('StatefulSet') as Manifest & StatefulSetShape;
    for (const [key, value] of Object.entries(service.spec.selector)) assert.equal(set.spec.template.metadata.labels[key], value);
  });

  test('the NetworkPolicy keeps its peers’ own labels (kustomize must not rewrite them)', () => {
    const policy = one('NetworkPolicy') as Manifest & { spec: { ingress: Array<{ from: Array<{ podSelector: { matchLabels: Record<string, string> } }> }> } };
    assert.deepEqual(policy.spec.ingress[0]?.from[0]?.podSelector.matchLabels, { 'app.kubernetes.io/name': 'prometheus' });
  });

  // Issue 25 row 12: egress to any address on 443/993/995/587 let the agent reach in-cluster services and the
  // cloud metadata endpoint on those ports.
  test('the NetworkPolicy lets the agent reach public addresses only on the Microsoft ports', () => {
    const policy = one('NetworkPolicy') as Manifest & {
      spec: { egress: Array<{ to?: Array<{ ipBlock?: { cidr: string; except?: string[] } }>; ports: Array<{ port: number }> }> };
    };
    const microsoft = policy.spec.egress.find((rule) => rule.ports.some((port) => port.port === 443));
    assert.ok(microsoft?.to, 'the 443/993/995/587 rule names its destinations');
    const blocks = microsoft.to.map((peer) => peer.ipBlock);
    assert.deepEqual(
      blocks.map((block) => block?.cidr),
      ['0.0.0.0/0', '::/0'],
    );
    for (const range of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16']) assert.ok(blocks[0]?.except?.includes(range), range);
    assert.ok(blocks[1]?.except?.includes('fc00::/7'));
  });

  test('the PrometheusRule holds exactly the rules of deploy/prometheus/*.yml, and its file is up to date', () => {
    const rule = one('PrometheusRule') as Manifest & { spec: { groups: unknown[] } };
    assert.deepEqual(rule.spec.groups, shippedRuleGroups(REPO_ROOT));
    assert.equal(readFileSync(repoPath(PROMETHEUS_RULE_FILE), 'utf8'), prometheusRuleYaml(REPO_ROOT), 'run `npm run generate:prometheusrule`');
    const names = (
      parse(readFileSync(repoPath('deploy/prometheus/alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string }> }> }
    ).groups.flatMap((group) => group.rules.map((r) => r.alert));
    assert.ok(names.includes('MailprobeShardMissing') && names.includes('MailprobeShardClaimedTwice'));
  });
});
