import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { promtoolPath, repoPath } from '../support/promtool.js';

// No Docker engine runs here, so compose.yaml is not brought up in the tests. What can be checked without
// one is: every file it mounts exists, and Prometheus and Alertmanager accept the configurations as laid
// out in their containers.

interface ComposeService {
  ports?: string[];
  environment?: Record<string, string>;
  image?: string;
  build?: string;
  volumes?: string[];
  command?: string[];
}

const compose = parse(readFileSync(repoPath('compose.yaml'), 'utf8')) as { services: Record<string, ComposeService>; volumes: Record<string, unknown> };
const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'mailprobe-compose-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** host:container[:mode] bind mounts of a service whose host side is a path, with the default of ${VAR:-default}. */
function binds(service: ComposeService): Array<{ host: string; container: string }> {
  return (service.volumes ?? [])
    .map((entry) => entry.replace(/\$\{[A-Z_]+:-([^}]+)\}/, '$1').split(':'))
    .filter(([host]) => host?.startsWith('.'))
    .map(([host, container]) => ({ host: host ?? '', container: container ?? '' }));
}

function mountedAt(service: string, container: string): string {
  const bind = binds(compose.services[service] ?? {}).find((candidate) => candidate.container === container);
  assert.ok(bind, `${service} mounts ${container}`);
  return repoPath(bind.host);
}

describe('compose.yaml', () => {
  test('brings up mailprobe (built from the Dockerfile), Prometheus, Alertmanager and Grafana; every mounted file exists', () => {
    assert.equal(compose.services.mailprobe?.build, '.');
    for (const name of ['prometheus', 'alertmanager', 'grafana']) assert.ok(compose.services[name]?.image, name);
    for (const [name, service] of Object.entries(compose.services)) {
      for (const { host } of binds(service)) assert.ok(existsSync(repoPath(host)), `${name}: ${host}`);
      for (const entry of service.volumes ?? []) {
        const source = entry.split(':')[0] ?? '';
        if (!source.startsWith('.') && !source.startsWith('$')) assert.ok(source in compose.volumes, `${name}: volume ${source} declared`);
      }
    }
  });

  // Issue 25 row 8: compose published 9465, 9090, 9093 and 3000 on every interface, with Grafana's admin/admin.
  test('every port is published on loopback only, and Grafana has no login to guess', () => {
    const published = Object.values(compose.services).flatMap((service) => service.ports ?? []);
    assert.ok(published.length >= 4);
    for (const port of published) assert.match(port, /^127\.0\.0\.1:\d+:\d+$/, port);
    assert.equal(compose.services.grafana?.environment?.GF_AUTH_DISABLE_LOGIN_FORM, 'true');
    assert.equal(compose.services.grafana?.environment?.GF_AUTH_BASIC_ENABLED, 'false');
  });

  test('secrets come as a read-only folder of files the agent reads with {"file": …}, kept out of git', () => {
    const mount = (compose.services.mailprobe?.volumes ?? []).find((entry) => entry.includes(':/etc/mailprobe-secrets:'));
    assert.match(mount ?? '', /:\/etc\/mailprobe-secrets:ro$/);
    assert.match(readFileSync(mountedAt('mailprobe', '/etc/mailprobe-secrets') + '/.gitignore', 'utf8'), /^\*$/m);
  });

  test('Prometheus accepts its configuration with the shipped rules where the container sees them', async () => {
    const etc = join(work, 'prometheus');
    mkdirSync(join(etc, 'rules'), { recursive: true });
    copyFileSync(mountedAt('prometheus', '/etc/prometheus/prometheus.yml'), join(etc, 'prometheus.yml'));
    for (const file of ['recording-rules.yml', 'alerts.yml']) copyFileSync(mountedAt('prometheus', `/etc/prometheus/rules/${file}`), join(etc, 'rules', file));
    const { stdout } = await run(promtoolPath(), ['check', 'config', join(etc, 'prometheus.yml')], { timeout: 30_000, encoding: 'utf8' });
    assert.match(stdout, /SUCCESS: 2 rule files found/);
    const config = parse(readFileSync(join(etc, 'prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    assert.deepEqual(
      config.scrape_configs.map((scrape) => [scrape.job_name, scrape.static_configs[0]?.targets]),
      [['mailprobe', ['mailprobe:9465']]],
    );
  });

  test('Alertmanager accepts its configuration', async () => {
    const { stdout } = await run('amtool', ['check-config', mountedAt('alertmanager', '/etc/alertmanager/alertmanager.yml')], {
      timeout: 30_000,
      encoding: 'utf8',
    });
    assert.match(stdout, /SUCCESS/);
  });

  test('Grafana gets the dashboard pointed at the provisioned datasource', () => {
    const datasources = parse(readFileSync(mountedAt('grafana', '/etc/grafana/provisioning/datasources/mailprobe.yml'), 'utf8')) as {
      datasources: Array<{ uid: string; url: string }>;
    };
    assert.deepEqual(
      datasources.datasources.map((source) => [source.uid, source.url]),
      [['prometheus', 'http://prometheus:9090']],
    );
    // The one-shot step's substitution, applied here as sed applies it there.
    const step = compose.services['grafana-dashboard']?.command?.[2] ?? '';
    const [, pattern, replacement] = /sed 's\/(.+?)\/(.+?)\/g'/.exec(step) ?? [];
    assert.equal(pattern, '$${DS_PROMETHEUS}', 'compose writes $$ for a literal $');
    const shipped = readFileSync(mountedAt('grafana-dashboard', '/shipped/mailprobe-dashboard.json'), 'utf8');
    const provisioned = shipped.replaceAll('${DS_PROMETHEUS}', replacement ?? '');
    assert.ok(shipped.includes('${DS_PROMETHEUS}'));
    assert.ok(!provisioned.includes('${DS_PROMETHEUS}'));
    assert.equal(replacement, datasources.datasources[0]?.uid);
    JSON.parse(provisioned);
  });
});
