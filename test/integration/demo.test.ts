import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pickPorts } from '../support/testbed/ports.js';

// The newcomer's first command: `npx mailprobe` in a fresh clone runs the demo (the shipped monitors.json
// holds placeholder IDs), shows healthy and failing monitors within a minute, and stops cleanly on Ctrl-C.

describe('the offline demo', () => {
  test('npx mailprobe on the shipped example shows healthy and failing checks, on /metrics and /status, within a minute, then stops on SIGINT', async () => {
    const [port] = await pickPorts(1);
    const child = spawn(process.execPath, [join(process.cwd(), 'bin/mailprobe.js'), '--listen', `127.0.0.1:${port}`], {
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const started = Date.now();
      let healthy = 0;
      let failing = 0;
      while (Date.now() - started < 60_000 && (healthy === 0 || failing === 0)) {
        await sleep(1000);
        try {
          const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
          healthy = text.split('\n').filter((line) => line.startsWith('mailprobe_check_success{') && line.endsWith(' 1')).length;
          failing = text.split('\n').filter((line) => line.startsWith('mailprobe_check_success{') && line.endsWith(' 0')).length;
        } catch {
          // not listening yet
        }
      }
      assert.ok(healthy > 0 && failing > 0, `healthy=${healthy} failing=${failing} after ${Date.now() - started} ms\n${output.slice(-3000)}`);
      // The status page shows the same faults, in plain words, within the same minute.
      let page = '';
      while (Date.now() - started < 60_000 && !/<p class="reason fail">/.test(page)) {
        page = await (await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(3000) })).text();
        if (!/<p class="reason fail">/.test(page)) await sleep(1000);
      }
      assert.match(page, /<p class="reason fail">[^<]+\.<\/p>/, `a failing check with its reason on /status after ${Date.now() - started} ms`);
      assert.match(page, /checks failing/);
      assert.doesNotMatch(page, /@[a-z]+\.onmicrosoft\.com/, 'no mailbox address on the public page');
      assert.match(output, /status page: +http:\/\/127\.0\.0\.1:\d+\/status/);
      assert.match(output, /running the built-in offline demo/i);
      assert.match(output, /metrics: +http:\/\/127\.0\.0\.1:\d+\/metrics/);
      const config = /config: +(\S+monitors\.json)/.exec(output)?.[1];
      assert.ok(config && existsSync(config), 'the generated config exists while the demo runs');

      child.kill('SIGINT');
      const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)]);
      assert.equal(code, 0, output.slice(-2000));
      assert.ok(!existsSync(config), 'the demo removes its temporary files');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
