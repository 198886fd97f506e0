import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../support/cli.js';
import { startEmulatorBed, type EmulatorBed } from '../support/emulator-bed.js';
import { writeMonitors } from '../support/monitors.js';

// `mailprobe check` with the monitor on the command line, against the Exchange Online emulator on loopback:
// the same session, verdict and fix as the same monitor written in monitors.json.

let bed: EmulatorBed;
let caFile = '';

before(async () => {
  bed = await startEmulatorBed();
  caFile = join(mkdtempSync(join(tmpdir(), 'mailprobe-adhoc-')), 'ca.pem');
  writeFileSync(caFile, bed.ca);
});

after(() => bed?.close());

function adhoc(extra: string[] = []): string[] {
  return [
    'check',
    '--tenant-id',
    bed.tenantId,
    '--client-id',
    bed.clientId,
    '--secret-env',
    'BED_SECRET',
    '--mailbox',
    bed.mailbox,
    '--authority-host',
    bed.entra.authorityHost,
    '--imap',
    `${bed.imap.host}:${bed.imap.port}`,
    '--smtp',
    `${bed.smtp.host}:${bed.smtp.port}`,
    '--ca-file',
    caFile,
    ...extra,
  ];
}

/** Output without what differs between two runs: tags' timestamps, ids, durations, the monitor's name. */
function shape(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((line) =>
      line
        .replace(/\d+\.\d+ ?s\b/g, 'T')
        .replace(/\[[^\]]*\]/g, '[…]')
        .replace(/(command-line|probe-0|\bbed\b)/g, 'M')
        .replace(/exp=\S+/, 'exp=…')
        .replace(/ at .*$/, ' at …'),
    )
    .filter((line) => !/^\s+S: 220 /.test(line));
}

describe('mailprobe check without a file', () => {
  test('passes, and fails with the same verdict and fix as the monitors.json entry', async () => {
    const ok = await runCli(adhoc(['--check', 'imap']), { BED_SECRET: bed.clientSecret });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^monitor command-line — probe@contoso\.onmicrosoft\.com \(tenant command-line\)$/m);
    assert.match(ok.stdout, /C: \S+ AUTHENTICATE XOAUTH2 \[redacted\]/);
    assert.match(ok.stdout, /^\s+PASS imap in /m);

    bed.model.setFullAccess(bed.tenantId, bed.mailbox, bed.clientId, false);
    try {
      const cli = await runCli(adhoc(['--check', 'imap']), { BED_SECRET: bed.clientSecret });
      const { file } = writeMonitors(bed, { monitors: [{ checks: ['imap'] }] });
      const fromFile = await runCli(['check', '--config', file]);
      assert.equal(cli.code, 1);
      assert.equal(fromFile.code, 1);
      assert.match(cli.stdout, /Add-MailboxPermission -Identity probe@contoso\.onmicrosoft\.com -User [0-9a-f-]{36} -AccessRights FullAccess/);
      assert.deepEqual(shape(cli.stdout), shape(fromFile.stdout));
    } finally {
      bed.model.setFullAccess(bed.tenantId, bed.mailbox, bed.clientId, true);
    }
  });

  test('says what is missing or in conflict (exit 2), and the secret variable like any monitor', async () => {
    const noMailbox = await runCli(['check', '--tenant-id', bed.tenantId, '--client-id', bed.clientId, '--secret-env', 'BED_SECRET']);
    assert.equal(noMailbox.code, 2);
    assert.match(noMailbox.stderr, /without --config, --mailbox is needed too/);
    const noCredential = await runCli(['check', '--tenant-id', bed.tenantId, '--client-id', bed.clientId, '--mailbox', bed.mailbox]);
    assert.equal(noCredential.code, 2);
    assert.match(noCredential.stderr, /a credential is needed: --secret-env VAR/);
    const both = await runCli([...adhoc(), '--config', 'monitors.json']);
    assert.equal(both.code, 2);
    const badClient = await runCli(['check', '--tenant-id', bed.tenantId, '--client-id', 'not-a-guid', '--secret-env', 'X', '--mailbox', bed.mailbox]);
    assert.equal(badClient.code, 2);
    assert.match(badClient.stderr, /^command line: --client-id: an Application \(client\) ID GUID$/m);
    const unset = await runCli(adhoc(['--check', 'imap']));
    assert.equal(unset.code, 1);
    assert.match(unset.stdout, /Set the environment variable BED_SECRET to the client secret's Value/);
  });
});
