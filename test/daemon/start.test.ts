import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, test } from 'node:test';
import { loadConfigFile } from '../../src/config/load.js';
import { startAgent, type StartOptions } from '../../src/daemon/start.js';
import { ExposedListenerError } from '../../src/http/listen-error.js';

// startAgent's steps: the listener's guard before anything is opened, alerting and history, the agent, the
// listener; a failed step closes what the earlier ones opened, a reload swaps the config or keeps the old one, and
// stop gives every state file back. No monitors, so no check runs and nothing leaves the machine.

const dir = mkdtempSync(join(tmpdir(), 'mailprobe-start-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let agents = 0;
/** A monitors.json with alerting (its state file) and history (SQLite, the default) in its own state folder. */
function agentFiles(agent: Record<string, unknown> = {}): { file: string; stateDir: string } {
  const home = join(dir, `agent-${agents++}`);
  const stateDir = join(home, 'state');
  mkdirSync(home, { recursive: true });
  const file = join(home, 'monitors.json');
  writeFileSync(file, monitorsJson(stateDir, agent));
  return { file, stateDir };
}

function monitorsJson(stateDir: string, agent: Record<string, unknown> = {}): string {
  return JSON.stringify({
    agent: { stateDir, ...agent },
    alerting: { notifiers: [{ type: 'webhook', name: 'ops', url: 'http://127.0.0.1:9/hook' }] },
    tenants: {},
    monitors: [],
  });
}

function options(listen = '127.0.0.1:0'): StartOptions & { log: () => string } {
  const stderr = new PassThrough();
  const lines: string[] = [];
  stderr.on('data', (chunk: Buffer) => lines.push(chunk.toString('utf8')));
  return { io: { stderr, env: {} }, format: 'json', listen, log: () => lines.join('') };
}

/** The owner records of the state files this agent claimed (alert state, history): none once it let go. */
function ownerRecords(stateDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(stateDir);
  } catch {
    return [];
  }
  return names.filter((name) => name.endsWith('.owner')).sort();
}

async function listening(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return { server, port: address.port };
}

describe('startAgent', () => {
  test('a listener other hosts reach without a credential is refused before any state file or store is opened', async () => {
    const { file, stateDir } = agentFiles();
    await assert.rejects(startAgent(loadConfigFile(file), options('0.0.0.0:0')), ExposedListenerError);
    assert.deepEqual(readdirSync(join(stateDir, '..')), ['monitors.json'], 'no state folder, no history.sqlite, no owner record');
  });

  test('a listener that cannot start closes what the steps before it opened, so the next start owns the state files', async (t) => {
    const { file, stateDir } = agentFiles();
    const taken = await listening();
    t.after(() => taken.server.close());
    await assert.rejects(startAgent(loadConfigFile(file), options(`127.0.0.1:${taken.port}`)), /EADDRINUSE/);
    assert.deepEqual(ownerRecords(stateDir), [], 'the alert state file and the history store were given back');

    const second = options();
    const handle = await startAgent(loadConfigFile(file), second);
    try {
      assert.deepEqual(ownerRecords(stateDir), ['alert-state.json.owner', 'history.sqlite.owner']);
      assert.doesNotMatch(second.log(), /belongs to another agent/);
      const ready = (await (await fetch(`${handle.http.url}/readyz`)).json()) as { ready: boolean; detail: { history?: { up: boolean } } };
      assert.equal(ready.detail.history?.up, true);
    } finally {
      await handle.stop();
    }
    assert.deepEqual(ownerRecords(stateDir), [], 'stop gives every state file back');
  });

  test('a reload that fails keeps the running config and says so; the next good one takes over', async () => {
    const { file, stateDir } = agentFiles();
    const run = options();
    const handle = await startAgent(loadConfigFile(file), run);
    const status = async (): Promise<{ config: { lastReloadOk: boolean; lastReloadError?: string }; shard: { total: number } }> =>
      (await (await fetch(`${handle.http.url}/api/status`)).json()) as {
        config: { lastReloadOk: boolean; lastReloadError?: string };
        shard: { total: number };
      };
    try {
      writeFileSync(file, '{ "monitors": [');
      assert.equal(handle.reload(), false);
      const failed = await status();
      assert.equal(failed.config.lastReloadOk, false);
      assert.match(failed.config.lastReloadError ?? '', /monitors\.json/);
      assert.match(run.log(), /configuration reload failed; the running configuration stays in force/);
      assert.ok(handle.agent.scheduling, 'the agent goes on');

      writeFileSync(file, monitorsJson(stateDir, { totalShards: 2, shard: 1 }));
      assert.equal(handle.reload(), true);
      const reloaded = await status();
      assert.equal(reloaded.config.lastReloadOk, true);
      assert.equal(reloaded.shard.total, 2, 'the new share is what the listener reports');
      assert.match(await (await fetch(`${handle.http.url}/metrics`)).text(), /mailprobe_config_last_reload_success 1/);
    } finally {
      await handle.stop();
    }
  });
});
