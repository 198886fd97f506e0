import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cacheOwner } from '../../src/auth/delegated.js';
import { readCache, readCacheKey } from '../../src/auth/token-cache.js';
import { loadConfigFile } from '../../src/config/load.js';
import type { ResolvedTenant } from '../../src/config/types.js';
import { sampleValue, startAgentProcess, type AgentProcess } from '../support/agent-process.js';
import { runCli } from '../support/cli.js';
import { startEmulatorBed, type EmulatorBed } from '../support/emulator-bed.js';
import { writeMonitors } from '../support/monitors.js';
import { pickPorts } from '../support/testbed/ports.js';

// A delegated monitor as an operator runs it (issue 24's "Done when"): `mailprobe login` signs the account in with
// the device code, the agent (a real process) passes its checks on the stored sign-in, rotates the refresh token
// and saves each one, survives a restart, shows the lapse on /metrics and /status/detail, and fails with the
// sign-in-again reason once the sessions are revoked.

interface StatusEntry {
  monitor: string;
  check: string;
  state: string;
  last?: { at: string; reason?: string; fixes?: string[] };
}

let bed: EmulatorBed;
let file: string;
let tenant: ResolvedTenant;
let agent: AgentProcess | undefined;

before(async () => {
  bed = await startEmulatorBed({
    domain: 'contoso.onmicrosoft.com',
    apps: [{ publicClient: true }],
    mailboxes: [{ address: 'probe@contoso.onmicrosoft.com' }],
  });
  // 303 s tokens are renewed 3 s after they are issued (5 min before expiry): the agent redeems, and rotates, often.
  bed.model.tokenLifetimeSeconds = 303;
  // The person at the browser signs in as soon as the code is shown.
  bed.model.delegation.approveAutomatically(bed.tenantId, bed.clientId, bed.mailbox);
  file = writeMonitors(bed, {
    monitors: [{ name: 'user', checks: ['imap', 'smtp'], schedule: '*/3 * * * * *' }],
    // The default budget (3 a minute) would stop the smtp check's sends, and with them its sign-in, before the
    // revocation is seen: 20 sends a minute stay inside 30, across a restart too.
    defaults: { sendBudget: { perMinute: 30, perDay: 10000 } },
    tenantExtra: { credential: { type: 'delegated', account: bed.mailbox }, authorityTls: { caFile: 'ca.pem' } },
    agent: { stateDir: 'state' },
  }).file;
  const loaded = loadConfigFile(file).monitors[0]?.tenant;
  assert.ok(loaded?.delegated);
  tenant = loaded;
});

after(async () => {
  await agent?.stop();
  await bed?.close();
});

function refreshToken(): string {
  const settings = tenant.delegated;
  assert.ok(settings);
  const read = readCache(settings.cacheFile, readCacheKey(settings.keyFile, {}), cacheOwner(tenant, settings));
  assert.ok(read.ok, JSON.stringify(read));
  return read.entry.refreshToken.reveal();
}

async function start(): Promise<AgentProcess> {
  const [port] = await pickPorts(1);
  return startAgentProcess(['--config', file], port ?? 0);
}

async function checks(process: AgentProcess): Promise<StatusEntry[]> {
  return (JSON.parse((await process.get('/api/status')).body) as { checks: StatusEntry[] }).checks;
}

/** Waits until both checks have a result after `since` in the wanted state; returns them. */
async function both(process: AgentProcess, state: 'ok' | 'failing', since: number): Promise<StatusEntry[]> {
  return process.waitFor(`both checks ${state}`, async () => {
    const entries = await checks(process);
    const fresh = entries.filter((entry) => entry.state === state && entry.last && Date.parse(entry.last.at) >= since);
    return fresh.length === 2 ? entries : undefined;
  });
}

describe('a delegated monitor, login to revocation, with the agent as a process', () => {
  test('login, pass, rotate and save, restart, lapse shown, revoked → signin_revoked with the login fix', async () => {
    const login = await runCli(['login', '--config', file, '--monitor', 'user']);
    assert.equal(login.code, 0, login.stdout + login.stderr);
    assert.match(login.stderr, /enter the code \S+ to authenticate/);
    assert.match(login.stdout, /^signed in as probe@contoso\.onmicrosoft\.com; kept encrypted in /m);
    const first = refreshToken();

    agent = await start();
    await both(agent, 'ok', 0);
    const rotated = await agent.waitFor('the rotated refresh token saved', async () => (refreshToken() !== first ? refreshToken() : undefined));

    const metrics = await agent.metrics();
    const lapse = sampleValue(metrics, 'mailprobe_signin_lapse_timestamp_seconds', { tenant: 'bed', cause: 'inactivity' });
    const renewed = sampleValue(metrics, 'mailprobe_signin_refresh_timestamp_seconds', { tenant: 'bed' });
    assert.ok(lapse !== undefined && renewed !== undefined, metrics);
    assert.equal(Math.round(lapse - renewed), 90 * 86_400, 'it lapses 90 days after the last renewal');
    const detail = (await agent.get('/status/detail')).body;
    assert.match(
      detail,
      /<p class="meta signin">Delegated sign-in of probe@contoso\.onmicrosoft\.com: signed in <time[^>]*>[^<]+<\/time>, last renewed .* \(in 8\d d \d+ h, 90 days unused\) unless renewed<\/p>/,
    );
    for (const secret of [first, rotated]) {
      assert.ok(!detail.includes(secret) && !metrics.includes(secret) && !agent.output().includes(secret), 'no refresh token in any output');
    }

    // A restart is a new process on the same state folder: the newest refresh token is the one it redeems.
    assert.equal(await agent.stop(), 0);
    const restartedAt = Date.now();
    agent = await start();
    await both(agent, 'ok', restartedAt);
    await agent.waitFor('a rotation after the restart', async () => (refreshToken() !== rotated ? true : undefined));

    bed.model.delegation.revoke(bed.mailbox, Date.now());
    const revokedAt = Date.now();
    const failing = await both(agent, 'failing', revokedAt);
    for (const entry of failing) {
      assert.equal(entry.last?.reason, 'signin_revoked', JSON.stringify(entry));
      assert.ok(
        entry.last?.fixes?.some((fix) => fix.includes('mailprobe login --monitor user')),
        JSON.stringify(entry),
      );
    }
  });
});
