import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pickPorts } from '../support/testbed/ports.js';

// The newcomer's first ten minutes, walked on a clean tree: the files a clone has (git ls-files), the
// node_modules and dist/ that `npm ci` makes. The README's first screen says `npm ci && npx mailprobe`; npx runs
// the package's bin (bin/mailprobe.js), which is what runs here. Every command the demo's banner prints is then
// run as printed, and the history it promises is read after Ctrl-C.

const run = promisify(execFile);
const repo = process.cwd();
const tree = mkdtempSync(join(tmpdir(), 'mailprobe-clone-'));
after(() => rmSync(tree, { recursive: true, force: true }));

async function cleanTree(): Promise<void> {
  const { stdout } = await run('git', ['ls-files', '-z'], { cwd: repo, maxBuffer: 64 * 1024 * 1024 });
  for (const file of stdout.split('\0').filter(Boolean)) {
    if (!existsSync(join(repo, file))) continue;
    mkdirSync(dirname(join(tree, file)), { recursive: true });
    cpSync(join(repo, file), join(tree, file));
  }
  symlinkSync(join(repo, 'node_modules'), join(tree, 'node_modules'));
  cpSync(join(repo, 'dist'), join(tree, 'dist'), { recursive: true });
}

/** `npx mailprobe ARGS` in the clean tree. */
async function mailprobe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(tree, 'bin/mailprobe.js'), ...args], {
      cwd: tree,
      env: { PATH: process.env.PATH, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

describe('the README first screen and the demo, on a clean tree', () => {
  test('npx mailprobe runs the demo; its printed commands run as documented; the history outlives Ctrl-C', { timeout: 240_000 }, async () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    const firstScreen = readme.split(/^## /m)[0] ?? '';
    assert.match(firstScreen, /^npm ci && npx mailprobe /m);
    assert.match(firstScreen, /^npm test /m);
    await cleanTree();

    const [port] = await pickPorts(1);
    // MAILPROBE_LISTEN instead of the README's 9465, which may be taken here; the demo honours it as run does.
    const child = spawn(process.execPath, [join(tree, 'bin/mailprobe.js')], {
      cwd: tree,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, MAILPROBE_LISTEN: `127.0.0.1:${port}` },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const started = Date.now();
      let healthy = 0;
      let failing = 0;
      while (Date.now() - started < 90_000 && (healthy === 0 || failing === 0)) {
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
      assert.match(output, /running the built-in OFFLINE DEMO/);
      assert.match(output, new RegExp(`status page: http://127\\.0\\.0\\.1:${port}/status`));
      assert.match(output, /one fault at a time, every 330 s/);
      assert.match(
        output,
        /^demo: frontdesk@tailspin\.onmicrosoft\.com signed in with the device code/m,
        'the delegated monitor signed in before the agent started',
      );
      const page = await (await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(3000) })).text();
      assert.match(page, /<p class="reason fail">[^<]+\.<\/p>/, 'a failing check with its reason on /status');
      assert.doesNotMatch(page, /@[a-z]+\.onmicrosoft\.com/, 'no mailbox address on the public page');

      // The banner's commands, as printed, against the demo's own config.
      const hints = [...output.matchAll(/^ {4}npx mailprobe (.+)$/gm)].map((match) => (match[1] ?? '').split(' '));
      assert.deepEqual(
        hints.map((args) => args[0]),
        ['check', 'doctor', 'token', 'report'],
      );
      assert.ok(
        hints.every((args) => args.includes('mailprobe-demo/monitors.json')),
        'a path relative to where the demo was started',
      );
      const validated = await mailprobe(['validate', '--config', 'mailprobe-demo/monitors.json']);
      assert.equal(validated.code, 0, validated.stderr);
      assert.equal(validated.stderr, '', "the demo's own config warns about nothing");
      for (const args of hints) {
        const result = await mailprobe(args);
        // 0: passed, 1: the demo's fault of the moment; never bad usage (2) or an internal error (3).
        assert.ok(result.code === 0 || result.code === 1, `${args.join(' ')} exited ${result.code}\n${result.stdout}${result.stderr}`);
        if (args[0] === 'check') assert.match(result.stdout, /^\d+ passed, \d+ failed$/m);
        if (args[0] === 'doctor') assert.match(result.stdout, /^doctor: monitor northwind-orders/m);
        if (args[0] === 'token') assert.match(result.stdout + result.stderr, /^(aud +: |token request failed: )/m);
        if (args[0] === 'report') assert.match(result.stdout, /Availability report/);
      }

      child.kill('SIGINT');
      const code = await Promise.race([exited, sleep(20_000).then(() => 'timeout' as const)]);
      assert.equal(code, 0, output.slice(-2000));
      assert.match(output, /The history stays in mailprobe-demo: npx mailprobe report --config mailprobe-demo\/monitors\.json --period this/);
      assert.ok(existsSync(join(tree, 'mailprobe-demo', 'state', 'history.sqlite')), 'the history is kept after Ctrl-C');
      const afterwards = await mailprobe(['report', '--config', 'mailprobe-demo/monitors.json', '--period', 'this', '--format', 'json']);
      assert.equal(afterwards.code, 0, afterwards.stderr);
      const report = JSON.parse(afterwards.stdout) as { checks: Array<{ monitor: string; runs: number }> };
      assert.ok(
        report.checks.some((check) => check.monitor === 'fabrikam-scanner' && check.runs > 0),
        afterwards.stdout.slice(0, 2000),
      );
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test('the demo folder is removed only on request', { timeout: 60_000 }, async () => {
    const dir = join(tree, 'mailprobe-demo');
    mkdirSync(dir, { recursive: true });
    const marker = join(dir, 'kept.txt');
    writeFileSync(marker, 'from an earlier run');
    const [port] = await pickPorts(1);
    const kept = await mailprobe(['demo', '--duration', '2', '--listen', `127.0.0.1:${port}`]);
    assert.equal(kept.code, 0, kept.stderr);
    assert.ok(existsSync(marker), 'a second demo keeps what the first left');
    const reset = await mailprobe(['demo', '--reset', '--duration', '2', '--listen', `127.0.0.1:${port}`]);
    assert.equal(reset.code, 0, reset.stderr);
    assert.ok(!existsSync(marker) && existsSync(join(dir, 'monitors.json')), 'a fresh demo folder after --reset');
  });
});
