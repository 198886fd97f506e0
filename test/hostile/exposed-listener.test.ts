import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, test } from 'node:test';
import { loadConfigFile } from '../../src/config/load.js';
import { startAgent } from '../../src/daemon/start.js';
import { runCli } from '../support/cli.js';

// Issue 25 row 8: the default listener was 0.0.0.0:9465 without authentication, so every host that reached it
// read mailboxes, tenant and app IDs from /api/status and /status/detail.

const dir = mkdtempSync(join(tmpdir(), 'mailprobe-exposed-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function monitorsFile(agent: Record<string, unknown> = {}): string {
  const file = join(dir, `monitors-${files++}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      agent,
      tenants: {
        t: { tenantId: 'contoso.onmicrosoft.com', clientId: '10e1f456-3921-4234-9234-105af0774c61', credential: { type: 'secret', secret: { env: 'S' } } },
      },
      monitors: [],
    }),
  );
  return file;
}

async function starts(file: string, options: { listen?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const handle = await startAgent(loadConfigFile(file), {
    io: { stderr: new PassThrough().resume(), env: options.env ?? {} },
    format: 'json',
    ...(options.listen ? { listen: options.listen } : {}),
  });
  const url = handle.http.url;
  await handle.stop();
  return url;
}

describe('a listener other hosts can reach', () => {
  test('--listen 0.0.0.0 without a credential refuses to start, naming the flag and the ways out', async () => {
    const run = await runCli(['run', '--config', monitorsFile(), '--listen', '0.0.0.0:0', '--log-format', 'json']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^mailprobe: refusing to listen on 0\.0\.0\.0:0 \(--listen\): other hosts can reach it and it asks for no credential/m);
    assert.match(run.stderr, /listen on loopback \(127\.0\.0\.1:9465\)/);
    assert.match(run.stderr, /agent\.insecureListen: true or MAILPROBE_INSECURE_LISTEN=true/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  });

  test('agent.listen in the file and MAILPROBE_LISTEN are named as the source', async () => {
    const file = monitorsFile({ listen: '0.0.0.0:0' });
    const fromFile = await runCli(['run', '--config', file, '--log-format', 'json']);
    assert.equal(fromFile.code, 2);
    assert.ok(fromFile.stderr.includes(`refusing to listen on 0.0.0.0:0 (agent.listen in ${file})`), fromFile.stderr);
    const fromEnv = await runCli(['run', '--config', monitorsFile(), '--log-format', 'json'], { MAILPROBE_LISTEN: '[::]:0' });
    assert.equal(fromEnv.code, 2);
    assert.ok(fromEnv.stderr.includes('refusing to listen on [::]:0 (MAILPROBE_LISTEN)'), fromEnv.stderr);
  });

  test('TLS alone does not count as protection: a client reads everything over it', async () => {
    const file = monitorsFile({ listen: '0.0.0.0:0' });
    const webConfig = join(dir, 'tls-only.yml');
    // An unreadable certificate would fail first; the refusal comes before the listener reads anything else.
    writeFileSync(webConfig, 'http_server_config:\n  headers:\n    X-Frame-Options: deny\n');
    const run = await runCli(['run', '--config', file, '--web.config.file', webConfig, '--log-format', 'json']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /refusing to listen on 0\.0\.0\.0:0/);
  });

  test('a MAILPROBE_INSECURE_LISTEN that is neither true nor false is named', async () => {
    const run = await runCli(['run', '--config', monitorsFile(), '--listen', '0.0.0.0:0', '--log-format', 'json'], { MAILPROBE_INSECURE_LISTEN: 'yes' });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /MAILPROBE_INSECURE_LISTEN: "yes" is neither true nor false/);
  });

  test('starts when the operator opts in (file or environment) or a credential is required', async () => {
    assert.match(await starts(monitorsFile({ listen: '0.0.0.0:0', insecureListen: true })), /^http:\/\/0\.0\.0\.0:\d+$/);
    assert.match(await starts(monitorsFile(), { listen: '0.0.0.0:0', env: { MAILPROBE_INSECURE_LISTEN: 'true' } }), /^http:\/\/0\.0\.0\.0:\d+$/);
    const tokens = join(dir, 'tokens');
    writeFileSync(tokens, 'a-long-random-bearer-token\n');
    assert.match(await starts(monitorsFile({ listen: '0.0.0.0:0', bearerTokenFile: tokens })), /^http:\/\/0\.0\.0\.0:\d+$/);
  });

  test('the built-in default and the shipped monitors.json listen on loopback, so they start as they are', async () => {
    const url = await starts(monitorsFile(), { listen: '127.0.0.1:0' });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const shipped = loadConfigFile(join(process.cwd(), 'monitors.json'));
    assert.equal(shipped.agent.host, '127.0.0.1');
    assert.equal(loadConfigFile(monitorsFile()).agent.host, '127.0.0.1');
  });
});
