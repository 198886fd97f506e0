import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import { repoPath } from '../support/promtool.js';

const UNIT = 'deploy/systemd/mailprobe.service';
const INSTALLED_BINARY = '/usr/local/bin/mailprobe';
const run = promisify(execFile);
const unit = readFileSync(repoPath(UNIT), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'mailprobe-unit-'));
// verify also checks that ExecStart's program exists. This machine has the checkout, not an installed
// mailprobe, so the copy under test runs the checkout's bin/mailprobe.js instead: that path is the only
// change (asserted below).
const copy = join(dir, 'mailprobe.service');
const rewritten = unit.replace(`ExecStart=${INSTALLED_BINARY} `, `ExecStart=${repoPath('bin/mailprobe.js')} `);
writeFileSync(copy, rewritten);

after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs systemd-analyze; resolves with its exit code and output. Needs the Debian systemd package (.ci/install-packages.sh). */
async function analyze(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('systemd-analyze', args, { timeout: 30_000, encoding: 'utf8' });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string };
    if (failed.code === 'ENOENT') throw new Error('systemd-analyze not found: install the systemd package (bash .ci/install-packages.sh)');
    return { code: typeof failed.code === 'number' ? failed.code : -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

/** The directives of the [Service] section, in order, as [key, value] pairs. */
function serviceDirectives(text: string): Array<[string, string]> {
  const section = text.split(/^\[Service\]$/m)[1]?.split(/^\[/m)[0] ?? '';
  return section
    .split('\n')
    .filter((line) => /^[A-Za-z]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]);
}

describe('the systemd unit', () => {
  test('systemd-analyze verify passes', async () => {
    assert.notEqual(rewritten, unit, `the unit starts ${INSTALLED_BINARY}`);
    assert.equal(rewritten.split('\n').filter((line, i) => line !== unit.split('\n')[i]).length, 1);
    const verify = await analyze(['verify', copy]);
    assert.equal(verify.code, 0, verify.output);
    assert.equal(verify.output.trim(), '', 'no warnings either');
  });

  test('is hardened: systemd-analyze security rates it OK (exposure at most 2.0)', async () => {
    const security = await analyze(['security', '--offline=yes', copy]);
    const exposure = /Overall exposure level for mailprobe\.service: ([\d.]+)/.exec(security.output)?.[1];
    assert.ok(exposure !== undefined, security.output);
    assert.ok(Number(exposure) <= 2.0, `exposure ${exposure}:\n${security.output}`);
  });

  test('states the hardening the issue asks for, but never MemoryDenyWriteExecute (V8 JIT)', () => {
    const directives = new Map(serviceDirectives(unit));
    for (const [key, value] of [
      ['DynamicUser', 'yes'],
      ['StateDirectory', 'mailprobe'],
      ['ProtectSystem', 'strict'],
      ['NoNewPrivileges', 'yes'],
      ['CapabilityBoundingSet', ''],
      ['Environment', 'MAILPROBE_STATE_DIR=%S/mailprobe'],
      ['EnvironmentFile', '-/etc/mailprobe/mailprobe.env'],
      ['ExecReload', '/bin/kill -HUP $MAINPID'],
    ] as const) {
      assert.equal(directives.get(key), value, key);
    }
    assert.ok(serviceDirectives(unit).some(([key, value]) => key === 'SystemCallFilter' && value === '@system-service'));
    assert.ok(!directives.has('MemoryDenyWriteExecute'));
    // Secrets as files systemd hands over, not environment every child inherits (issue 25 row 12).
    assert.match(directives.get('LoadCredential') ?? '', /^[a-z-]+:\/etc\/mailprobe\/secrets\/[a-z-]+$/);
    // Longer than the agent's default grace for checks in flight, so systemd does not SIGKILL a clean stop.
    assert.ok(Number(directives.get('TimeoutStopSec')) > 30);
  });
});
