import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { runCli } from '../support/cli.js';
import { writeOfflineMonitors } from '../support/monitors.js';

// A listener that cannot bind is the operator's to fix (exit 2, the address named), never "internal error".

const configFile = (): string => writeOfflineMonitors();

describe('listen problems exit 2 with the address named', () => {
  test('--listen bogus is refused before anything starts', async () => {
    const run = await runCli(['run', '--config', configFile(), '--listen', 'bogus']);
    assert.equal(run.code, 2);
    assert.equal(run.stderr, 'mailprobe: run: --listen "bogus": expected HOST:PORT such as 0.0.0.0:9465 or 127.0.0.1:9465\n');
  });

  test('--listen with a port out of range', async () => {
    const run = await runCli(['run', '--config', configFile(), '--listen', '127.0.0.1:70000']);
    assert.equal(run.code, 2);
    assert.equal(run.stderr, 'mailprobe: run: --listen "127.0.0.1:70000": port 70000 is out of range (0-65535)\n');
  });

  test('a port in use', async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const { port } = blocker.address() as AddressInfo;
    try {
      const run = await runCli(['run', '--config', configFile(), '--listen', `127.0.0.1:${port}`, '--log-format', 'json']);
      assert.equal(run.code, 2);
      assert.ok(run.stderr.endsWith(`mailprobe: cannot listen on 127.0.0.1:${port}: the port is already in use (EADDRINUSE)\n`), run.stderr);
    } finally {
      blocker.close();
    }
  });

  test('a host that does not resolve', async () => {
    // Not loopback, so the opt-in lets it get as far as resolving (without, it is refused as exposed first).
    const run = await runCli(['run', '--config', configFile(), '--listen', 'no-such-host.invalid:0', '--log-format', 'json'], {
      MAILPROBE_INSECURE_LISTEN: 'true',
    });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /mailprobe: cannot listen on no-such-host\.invalid:0: the host name does not resolve.* \((ENOTFOUND|EAI_AGAIN|EAI_NONAME)\)\n$/);
  });
});
