import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import { runCli } from '../support/cli.js';
import { startEmulatorBed, type EmulatorBed } from '../support/emulator-bed.js';
import { writeMonitors } from '../support/monitors.js';

// What the commands print, checked against the Exchange Online emulator: each assertion is one of the wrong
// outputs a newcomer met (issue 27), so each fails on the code that printed it wrong.

let bed: EmulatorBed;

before(async () => {
  bed = await startEmulatorBed();
});

after(() => bed?.close());

/** The lines a reader sees besides the protocol transcript (C:, S: and # lines). */
function verdictLines(stdout: string): string[] {
  return stdout.split('\n').filter((line) => !/^\s+(C|S|#): /.test(line) && !/^\s+# /.test(line));
}

function envConfig(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-outputs-'));
  const file = join(dir, 'monitors.json');
  writeFileSync(
    file,
    JSON.stringify({
      tenants: {
        contoso: {
          tenantId: bed.tenantId,
          clientId: bed.clientId,
          authorityHost: bed.entra.authorityHost,
          credential: { type: 'secret', secret: { env: 'CONTOSO_CLIENT_SECRET' } },
        },
      },
      monitors: [{ name: 'contoso-probe', tenant: 'contoso', mailbox: bed.mailbox, checks: ['imap'] }],
    }),
  );
  return file;
}

describe('what mailprobe prints', () => {
  test('an unset secret variable is told to set that variable, in check and in token', async () => {
    const file = envConfig();
    const check = await runCli(['check', '--config', file]);
    assert.equal(check.code, 1);
    assert.match(check.stdout, /fix:\n\s+Set the environment variable CONTOSO_CLIENT_SECRET to the client secret's Value/);
    const token = await runCli(['token', '--config', file, '--tenant', 'contoso']);
    assert.equal(token.code, 1);
    assert.match(token.stderr, /^token request failed: credential_missing$/m);
    assert.match(token.stderr, /fix:\n\s+Set the environment variable CONTOSO_CLIENT_SECRET/);
  });

  test("a refusal shows the server's words once beside the verdict, and --json has ISO instants and rounded seconds", async () => {
    const { file } = writeMonitors(bed, { monitors: [{ checks: ['smtp'] }] });
    bed.model.setSmtpAuthDisabled(bed.tenantId, null, true);
    try {
      const run = await runCli(['check', '--config', file]);
      assert.equal(run.code, 1);
      assert.match(run.stdout, /^\s+S: 535 5\.7\.139 /m, 'the transcript has the reply');
      const outside = verdictLines(run.stdout).join('\n');
      assert.equal(outside.split('5.7.139').length - 1, 1, `once besides the transcript:\n${outside}`);
      assert.match(outside, /server said: 535 5\.7\.139/);

      const json = await runCli(['check', '--config', file, '--json']);
      const answer = JSON.parse(json.stdout) as {
        results: Array<{ startedAt: unknown; durationSeconds: number; outcome: { steps: Array<{ seconds: number }> } }>;
      };
      const [result] = answer.results;
      assert.ok(result);
      assert.match(String(result.startedAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      for (const seconds of [result.durationSeconds, ...result.outcome.steps.map((step) => step.seconds)]) {
        assert.equal(seconds, Math.round(seconds * 1000) / 1000, `${seconds} is rounded to the millisecond`);
      }
    } finally {
      bed.model.setSmtpAuthDisabled(bed.tenantId, null, false);
    }
  });

  test("the roundtrip transcript leaves out imapflow's session set-up (ID, NAMESPACE, LSUB) and says so", async () => {
    const { file } = writeMonitors(bed, { monitors: [{ checks: ['roundtrip'] }] });
    const run = await runCli(['check', '--config', file]);
    assert.equal(run.code, 0, run.stdout);
    assert.doesNotMatch(run.stdout, /C: \S+ (ID|NAMESPACE|LSUB)\b/);
    assert.doesNotMatch(run.stdout, /S: \* (LSUB|NAMESPACE|ID) /);
    assert.match(run.stdout, /# \d+ line\(s\) of session set-up and folder listing not shown \(ID/);
    assert.match(run.stdout, /C: \S+ UID SEARCH HEADER X-MAILPROBE-ID/, 'the work inside the mailbox stays');
  });

  test('report names an unknown tenant, and a corrupt store by its file', async () => {
    const { file, dir } = writeMonitors(bed);
    mkdirSync(join(dir, '.mailprobe'), { recursive: true });
    // An empty history, as a just-started agent leaves it.
    await (await openSqliteStore(join(dir, '.mailprobe', 'history.sqlite'), { now: Date.now() })).close();
    const unknown = await runCli(['report', '--config', file, '--tenant', 'nope']);
    assert.equal(unknown.code, 0, unknown.stderr);
    assert.match(unknown.stderr, /note: tenant "nope" is not in .*monitors\.json \(tenants: bed\)/);
    assert.match(unknown.stderr, /note: the history holds no checks of tenant "nope"/);
    writeFileSync(join(dir, '.mailprobe', 'history.sqlite'), 'this is not a database, it is a text file '.repeat(200));
    const corrupt = await runCli(['report', '--config', file]);
    assert.equal(corrupt.code, 2);
    assert.match(
      corrupt.stderr,
      new RegExp(`cannot read the history store ${join(dir, '.mailprobe', 'history.sqlite').replace(/[.]/g, '\\.')}: .*restore it from a backup`),
    );
  });

  test('schema --help is a few lines, and run refuses a monitors file that is not there', async () => {
    const help = await runCli(['schema', '--help']);
    assert.equal(help.code, 0);
    assert.ok(help.stdout.split('\n').length < 10, help.stdout);
    assert.match(help.stdout, /^Usage: mailprobe schema/);
    const missing = join(mkdtempSync(join(tmpdir(), 'mailprobe-none-')), 'monitors.json');
    const refused = await runCli(['run'], { MAILPROBE_CONFIG: missing });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, new RegExp(`no monitors file at ${missing.replace(/[.]/g, '\\.')} \\(MAILPROBE_CONFIG\\)\\..*mailprobe demo`));
  });
});
