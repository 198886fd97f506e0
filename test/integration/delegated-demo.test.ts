import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { demoBanner, signInDemoUsers } from '../../src/cli/demo.js';
import type { CliIO } from '../../src/cli/io.js';
import { DEMO_SCRIPT, startDemoEnvironment } from '../../src/sandbox/demo.js';
import { runCli } from '../support/cli.js';

// The demo's delegated story (issue 24): tailspin's front desk signs in with the device code (the emulator
// approving it as the person would), passes, is revoked by the script and fails with the sign-in-again reason, then
// signs in again and passes — as the demo tells it.

interface JsonResult {
  check: string;
  outcome: { ok: boolean; failure?: { stage: string; reason: string; serverText?: string } };
  diagnosis?: { reason: string; summary: string; fixes: string[] };
}

const MONITOR = 'tailspin-frontdesk';

describe('the demo: a delegated monitor whose sign-in lapses and is renewed', () => {
  test('signs in, passes, fails with signin_revoked after the script revokes it, and passes after the script signs it in again', async () => {
    const env = await startDemoEnvironment({ schedule: '*/10 * * * * *', checks: ['imap', 'smtp'], listen: '127.0.0.1:0', delegated: true });
    // No access token is reused between runs (the provider renews 5 min before expiry), so each check below asks
    // Entra with the stored refresh token, as the agent does within seconds in the demo.
    env.model.tokenLifetimeSeconds = 300;
    const io: CliIO = { stdout: new PassThrough(), stderr: new PassThrough(), env: {}, cwd: process.cwd() };
    const told: string[] = [];
    env.signInAgain = async () => {
      told.push(...(await signInDemoUsers(env, io)));
    };
    const run = async (): Promise<JsonResult[]> => {
      const { stdout, stderr } = await runCli(['check', '--config', env.config.file, '--monitor', MONITOR, '--json']);
      const parsed = JSON.parse(stdout) as { results: JsonResult[] } | JsonResult[];
      const results = Array.isArray(parsed) ? parsed : parsed.results;
      assert.equal(results.length, 2, stdout + stderr);
      return results;
    };
    try {
      const monitor = env.config.monitors.find((candidate) => candidate.name === MONITOR);
      assert.equal(monitor?.tenant.credential.type, 'delegated');
      assert.deepEqual(monitor?.checks, ['imap', 'smtp']);

      await env.signInAgain();
      assert.deepEqual(told, [
        'frontdesk@tailspin.onmicrosoft.com signed in with the device code (mailprobe login; the emulator approved it as the person would)',
      ]);
      const validated = await runCli(['validate', '--config', env.config.file]);
      assert.equal(validated.code, 0, validated.stderr);
      assert.equal(validated.stderr, '', 'signed in: validate has nothing to warn about');
      for (const result of await run()) assert.equal(result.outcome.ok, true, JSON.stringify(result));

      const revoke = DEMO_SCRIPT.find((event) => event.description.startsWith('tailspin: an admin revokes'));
      const renew = DEMO_SCRIPT.find((event) => event.description.startsWith('repair: frontdesk signs in again'));
      assert.ok(revoke && renew && renew.atSeconds > revoke.atSeconds);
      await revoke.apply(env);
      for (const result of await run()) {
        assert.equal(result.outcome.ok, false);
        assert.equal(result.diagnosis?.reason, 'signin_revoked', JSON.stringify(result));
        assert.match(result.outcome.failure?.serverText ?? '', /^AADSTS50173: The provided grant has expired due to it being revoked/);
        assert.match(
          result.diagnosis?.fixes.join('\n') ?? '',
          /frontdesk@tailspin\.onmicrosoft\.com signs in again: mailprobe login --monitor tailspin-frontdesk/,
        );
      }

      await renew.apply(env);
      assert.equal(told.length, 2, 'the script signed the account in again');
      for (const result of await run()) assert.equal(result.outcome.ok, true, JSON.stringify(result));

      // What the demo prints up front: both events in the script's list.
      const banner = demoBanner('http://127.0.0.1:9465', env.config.file, process.cwd(), process.cwd(), env.config.monitors.length);
      assert.match(banner, /\+250 s {2}tailspin: an admin revokes frontdesk's sign-in sessions \(AADSTS50173\)/);
      assert.match(banner, /\+280 s {2}repair: frontdesk signs in again \(mailprobe login; the emulator approves the device code/);
    } finally {
      await env.close();
    }
  });

  test('left out unless asked for: the app-only demo has no delegated tenant', async () => {
    const env = await startDemoEnvironment({ schedule: '*/10 * * * * *', checks: ['imap', 'smtp'], listen: '127.0.0.1:0' });
    try {
      assert.ok(!env.config.monitors.some((monitor) => monitor.name === MONITOR));
      assert.ok(![...env.config.tenants.values()].some((tenant) => tenant.delegated));
      // The script's steps for it do nothing there.
      for (const event of DEMO_SCRIPT.filter((candidate) => /frontdesk/.test(candidate.description))) await event.apply(env);
    } finally {
      await env.close();
    }
  });
});
