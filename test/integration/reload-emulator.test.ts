import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bigMonitorsFile } from '../../bench/monitors-file.js';
import { sampleValue, startAgentProcess, type AgentProcess } from '../support/agent-process.js';
import { startEmulatorBed, type EmulatorBed } from '../support/emulator-bed.js';
import { writeMonitors } from '../support/monitors.js';
import { pickPorts } from '../support/testbed/ports.js';

// `mailprobe run` as a real process against the Exchange emulator: saves the way editors and Kubernetes make
// them are all seen, and a reload of 20,000 monitors lets the checks in flight finish as they would have.

const EVERY_TWO_SECONDS = '*/2 * * * * *';
const NEVER_DURING_THE_TEST = '0 0 1 1 *';
let bed: EmulatorBed;
const agents: AgentProcess[] = [];

before(async () => {
  bed = await startEmulatorBed();
});
after(async () => {
  await Promise.allSettled(agents.map((agent) => agent.stop()));
  await bed?.close();
});

interface Config {
  monitors: Array<Record<string, unknown> & { name: string }>;
  agent?: Record<string, unknown>;
}

async function start(file: string): Promise<AgentProcess> {
  const [port] = await pickPorts(1);
  const agent = await startAgentProcess(['--config', file], port ?? 0);
  agents.push(agent);
  return agent;
}

function failures(text: string): number {
  return [...text.matchAll(/^mailprobe_checks_total\{[^}]*result="failure"[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
}

async function scheduled(agent: AgentProcess, monitor: string): Promise<void> {
  await agent.waitFor(`${monitor} in the metrics`, async () => ((await agent.metrics()).includes(`monitor="${monitor}"`) ? true : undefined));
}

describe('reload', () => {
  test('rename-replace twice, then 20,000 monitors while checks are in flight: every save applies, no check fails', async () => {
    // Parsing 20,000 monitors holds the event loop for seconds on a loaded machine; generous step timeouts keep that
    // pause from failing the checks in flight, so a failure here means the reload itself broke one.
    const { file, dir } = writeMonitors(bed, {
      monitors: [{ name: 'live', checks: ['imap', 'pop3'], schedule: EVERY_TWO_SECONDS }],
      defaults: { timeoutSeconds: 60, stepTimeoutSeconds: 30 },
    });
    const agent = await start(file);
    const base = JSON.parse(readFileSync(file, 'utf8')) as Config;
    await agent.waitFor('a first success', async () =>
      sampleValue(await agent.metrics(), 'mailprobe_check_success', { monitor: 'live', check: 'imap' }) === 1 ? true : undefined,
    );

    for (const name of ['renamed-1', 'renamed-2']) {
      const next = { ...base, monitors: [...base.monitors, { ...base.monitors[0]!, name, schedule: NEVER_DURING_THE_TEST }] };
      base.monitors = next.monitors;
      // What vim and sed -i do: write a new file beside the old one, rename it over.
      writeFileSync(join(dir, '.monitors.json.tmp'), JSON.stringify(next, null, 2));
      renameSync(join(dir, '.monitors.json.tmp'), file);
      await scheduled(agent, name);
    }

    const tenant = (JSON.parse(readFileSync(file, 'utf8')) as { tenants: { bed: Record<string, unknown> } }).tenants.bed;
    const big = JSON.parse(bigMonitorsFile({ monitors: 20_000, schedules: 4, imap: bed.imap, tenant, tenantKey: 'bed', extra: base.monitors })) as Config;
    await agent.waitFor(
      'a check in flight',
      async () => {
        const ready = JSON.parse((await agent.get('/readyz')).body) as { detail: { checksInFlight: number } };
        return ready.detail.checksInFlight > 0 ? true : undefined;
      },
      10_000,
    );
    writeFileSync(join(dir, '.monitors.json.tmp'), JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), monitors: big.monitors }));
    renameSync(join(dir, '.monitors.json.tmp'), file);
    agent.signal('SIGHUP');
    // The log, not a scrape: /metrics with 15,000 more series is large and beside the point here.
    const reloaded = await agent.waitFor('the big reload', async () => {
      const at = agent.output().search(/"message":"configuration reloaded"[^\n]*"monitors":20003/);
      return at >= 0 ? at : undefined;
    });
    await agent.waitFor('live checks after the big reload', async () => {
      const after =
        agent
          .output()
          .slice(reloaded)
          .match(/"check passed","monitor":"live"/g) ?? [];
      return after.length >= 4 ? true : undefined;
    });
    assert.doesNotMatch(agent.output(), /"check failed"/, 'a check failed around a reload');
    assert.equal(failures(await agent.metrics()), 0);
  });

  test('a Kubernetes ConfigMap swap (..data symlink renamed) is seen twice; a restart-only setting is named', async () => {
    const { file, dir } = writeMonitors(bed, { monitors: [{ name: 'live', checks: ['imap'], schedule: EVERY_TWO_SECONDS }] });
    const config = JSON.parse(readFileSync(file, 'utf8')) as Config;
    // kubelet's layout: monitors.json -> ..data/monitors.json, ..data -> ..<version>/; secrets and CA stay beside.
    const mounted = join(dir, 'mounted');
    mkdirSync(mounted);
    const swap = (name: string, body: Config): void => {
      mkdirSync(join(mounted, name));
      writeFileSync(
        join(mounted, name, 'monitors.json'),
        JSON.stringify(body, null, 2).replaceAll('"ca.pem"', '"../ca.pem"').replaceAll('"client.secret"', '"../client.secret"'),
      );
      symlinkSync(name, join(mounted, '..data_tmp'));
      renameSync(join(mounted, '..data_tmp'), join(mounted, '..data'));
    };
    mkdirSync(join(mounted, '..v1'));
    writeFileSync(
      join(mounted, '..v1', 'monitors.json'),
      JSON.stringify(config, null, 2).replaceAll('"ca.pem"', '"../ca.pem"').replaceAll('"client.secret"', '"../client.secret"'),
    );
    symlinkSync('..v1', join(mounted, '..data'));
    symlinkSync(join('..data', 'monitors.json'), join(mounted, 'monitors.json'));
    const agent = await start(join(mounted, 'monitors.json'));
    await scheduled(agent, 'live');

    // The swapped-in monitors are scheduled but never due during the test, so no check of swapped-1 is in flight when
    // the second swap removes it: the test is about the swap being seen, not about a race with a running check.
    const added = (name: string): Config['monitors'][number] => ({ ...config.monitors[0]!, name, schedule: NEVER_DURING_THE_TEST });
    swap('..v2', { ...config, monitors: [...config.monitors, added('swapped-1')] });
    await scheduled(agent, 'swapped-1');
    swap('..v3', { ...config, agent: { logLevel: 'debug' }, monitors: [...config.monitors, added('swapped-2')] });
    await scheduled(agent, 'swapped-2');
    const text = await agent.metrics();
    assert.ok(!text.includes('monitor="swapped-1"'), 'the monitor removed by the second swap is still there');
    assert.match(agent.output(), /take effect only after a restart.*"settings":\["agent.logLevel"\]/);
  });
});
