import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMMANDS as TABLE, HELP } from '../../src/cli/main.js';
import { runCli } from '../support/cli.js';
import { writeOfflineMonitors } from '../support/monitors.js';

// Every command goes through defineCommand: the same --help, the same usage errors, the same monitors file lookup
// and the same exit codes. Every command of main's table is asked, so one that bypasses the helper shows here.

const COMMANDS = Object.keys(TABLE);

describe('CLI commands share one preamble', () => {
  test('every command is listed in the overall help', () => {
    for (const command of COMMANDS) assert.match(HELP, new RegExp(`^  ${command} `, 'm'), command);
  });

  for (const command of COMMANDS) {
    test(`${command} --help prints its usage and exits 0 without doing anything`, async () => {
      // A monitors file that does not exist: a command that loaded it before --help would exit 2.
      const run = await runCli([command, '--help'], { MAILPROBE_CONFIG: '/nonexistent/monitors.json' });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`^Usage: mailprobe ${command}\\b`));
      assert.equal(run.stderr, '');
    });

    test(`${command} --bogus is a usage error naming the command (exit 2, no stack)`, async () => {
      const run = await runCli([command, '--bogus']);
      assert.equal(run.code, 2);
      assert.match(run.stderr, new RegExp(`^mailprobe: ${command}: Unknown option '--bogus'\\. See 'mailprobe ${command} --help'\\.\\n$`));
      assert.equal(run.stdout, '');
    });
  }

  test('the monitors file: --config first, then MAILPROBE_CONFIG, then ./monitors.json', async () => {
    const file = writeOfflineMonitors([{ name: 'm', tenant: 't', mailbox: 'probe@contoso.com', checks: ['imap'] }]);
    const byFlag = await runCli(['validate', '--config', file], { MAILPROBE_CONFIG: '/nonexistent/monitors.json' });
    assert.equal(byFlag.code, 0, byFlag.stderr);
    assert.match(byFlag.stdout, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: valid — 1 tenant\\(s\\), 1 monitor\\(s\\)`));
    const byEnv = await runCli(['validate'], { MAILPROBE_CONFIG: file });
    assert.equal(byEnv.code, 0, byEnv.stderr);
    const missing = await runCli(['validate'], { MAILPROBE_CONFIG: '/nonexistent/monitors.json' });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^mailprobe: invalid configuration\n.*\/nonexistent\/monitors\.json/);
  });
});
