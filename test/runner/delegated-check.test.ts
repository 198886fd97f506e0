import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { loadConfigFile } from '../../src/config/load.js';
import type { ResolvedMonitor } from '../../src/config/types.js';
import { signIn } from '../../src/cli/login.js';
import { systemClock } from '../../src/core/clock.js';
import type { CheckKind } from '../../src/core/check.js';
import { REASONS } from '../../src/core/reasons.js';
import { decodeAccessToken, tokenProblems } from '../../src/diagnose/claims.js';
import { monitorRef } from '../../src/diagnose/commands.js';
import { buildChecklist } from '../../src/diagnose/checklist.js';
import { diagnose } from '../../src/diagnose/diagnose.js';
import { Redactor } from '../../src/log/redact.js';
import { runCheck } from '../../src/runner/run-check.js';
import { createRuntime } from '../../src/runner/runtime.js';
import { startEmulatorBed, type EmulatorBed } from '../support/emulator-bed.js';
import { runCli } from '../support/cli.js';
import { writeMonitors } from '../support/monitors.js';

// A delegated monitor's checks against the Entra and Exchange emulators: the user's token carries delegated
// permissions in `scp`, not application roles, and what goes wrong is the user's and the mailbox's, never a
// service principal's.

let bed: EmulatorBed;

before(async () => {
  bed = await startEmulatorBed({
    domain: 'contoso.onmicrosoft.com',
    apps: [{ publicClient: true }],
    mailboxes: [{ address: 'probe@contoso.onmicrosoft.com' }, { address: 'shared@contoso.onmicrosoft.com' }],
  });
});

after(() => bed?.close());

function quiet(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

/** The monitors.json of the latest delegatedMonitor(), for the commands. */
let lastFile = '';

/** A delegated monitor signed in as its own mailbox; `scopes` narrows what the sign-in asked for (a check added later). */
async function delegatedMonitor(checks: CheckKind[], scopes?: string[]): Promise<ResolvedMonitor> {
  const tenantExtra = { credential: { type: 'delegated', account: bed.mailbox }, authorityTls: { caFile: 'ca.pem' } };
  lastFile = writeMonitors(bed, { monitors: [{ name: 'user', checks }], tenantExtra }).file;
  const monitor = loadConfigFile(lastFile).monitors[0];
  const settings = monitor?.tenant.delegated;
  assert.ok(monitor && settings);
  let approved = false;
  let told = '';
  const stderr = new Writable({
    write(chunk: Buffer, _encoding, done) {
      told += chunk.toString('utf8');
      done();
    },
  });
  const exit = await signIn(scopes ? { ...monitor.tenant, delegated: { ...settings, scopes } } : monitor.tenant, {
    io: { stdout: quiet(), stderr, env: {}, cwd: '/' },
    clock: systemClock,
    sleep: () => {
      const code = /enter the code (\S+) to authenticate/.exec(told)?.[1];
      if (code && !approved) {
        bed.model.delegation.approve(code, bed.mailbox);
        approved = true;
      }
      return Promise.resolve();
    },
  });
  assert.equal(exit, 0, told);
  return monitor;
}

async function run(monitor: ResolvedMonitor, check: CheckKind) {
  const notes: string[] = [];
  const { deps } = createRuntime({ clock: systemClock, redactor: new Redactor(), env: {} });
  const result = await runCheck(deps, monitor, check, { transcript: { note: (text) => notes.push(text), client: () => undefined, server: () => undefined } });
  return { result, notes };
}

describe('a delegated monitor against the emulators', () => {
  test('passes IMAP and SMTP with the delegated permissions of its token (scp), without a word about roles', async () => {
    const monitor = await delegatedMonitor(['imap', 'smtp']);
    for (const check of ['imap', 'smtp'] as const) {
      const { result, notes } = await run(monitor, check);
      assert.equal(result.outcome.ok, true, JSON.stringify(result));
      const transcript = notes.join('\n');
      assert.match(transcript, /scp=IMAP\.AccessAsUser\.All SMTP\.Send upn=probe@contoso\.onmicrosoft\.com/);
      assert.doesNotMatch(transcript, /lacks|roles=/);
      assert.deepEqual(result.authorisation?.exchangeGranted, [], 'nothing reads as granted by Exchange on the side');
    }
  });

  test('a check added after the sign-in: the delegated permission is missing from scp, and the fix is consent plus a new sign-in', async () => {
    const monitor = await delegatedMonitor(['imap', 'pop3'], ['https://outlook.office.com/IMAP.AccessAsUser.All', 'offline_access']);
    const { result, notes } = await run(monitor, 'pop3');
    assert.equal(result.outcome.ok, false);
    assert.match(
      notes.join('\n'),
      /the token lacks the delegated permission POP\.AccessAsUser\.All \(scp: IMAP\.AccessAsUser\.All\); asking the server anyway$/m,
    );
    assert.equal(result.diagnosis?.reason, 'role_missing');
    const text = [result.diagnosis?.summary, ...(result.diagnosis?.candidates ?? []), ...(result.diagnosis?.fixes ?? [])].join('\n');
    assert.match(text, /Microsoft Graph → Delegated permissions → POP\.AccessAsUser\.All and offline_access/);
    assert.match(text, /mailprobe login --monitor user/);
    assert.doesNotMatch(text, /AccessAsApp|service principal|New-ServicePrincipal|Application permissions/i);
  });

  test('the protocol disabled for the user: user-side causes and fixes (Set-CASMailbox for that user), no service principal', async () => {
    const monitor = await delegatedMonitor(['imap']);
    bed.model.setProtocol(bed.tenantId, bed.mailbox, 'imap', false);
    try {
      const { result } = await run(monitor, 'imap');
      assert.equal(result.outcome.ok, false);
      const diagnosis = result.diagnosis;
      assert.ok(diagnosis);
      const text = [diagnosis.summary, ...diagnosis.candidates, ...diagnosis.fixes].join('\n');
      assert.match(text, /IMAP is disabled for probe@contoso\.onmicrosoft\.com \(ImapEnabled \$false\)/);
      assert.match(text, /Set-CASMailbox -Identity probe@contoso\.onmicrosoft\.com -ImapEnabled \$true/);
      assert.match(text, /Exchange Online licence/);
      assert.doesNotMatch(text, /service principal|ServicePrincipal|FullAccess/);
    } finally {
      bed.model.setProtocol(bed.tenantId, bed.mailbox, 'imap', true);
    }
  });
});

describe('mailprobe token on a delegated tenant entry', () => {
  test('prints the account, the delegated permissions and when the sign-in lapses; never a refresh token', async () => {
    await delegatedMonitor(['imap', 'pop3'], ['https://outlook.office.com/IMAP.AccessAsUser.All', 'offline_access']);
    const text = await runCli(['token', '--config', lastFile, '--tenant', 'bed']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^upn +: probe@contoso\.onmicrosoft\.com$/m);
    assert.match(text.stdout, /^scp +: IMAP\.AccessAsUser\.All$/m);
    assert.doesNotMatch(text.stdout, /^roles|AccessAsApp|RBAC/m);
    assert.match(text.stdout, /^signed in as probe@contoso\.onmicrosoft\.com \S+, last renewed \S+; lapses \S+ \(90 days unused\) unless renewed$/m);
    assert.match(text.stdout, /^not in the token: POP\.AccessAsUser\.All\. .*Microsoft Graph → Delegated permissions.*mailprobe login --monitor user\.$/m);
    const json = await runCli(['token', '--config', lastFile, '--tenant', 'bed', '--json']);
    const answer = JSON.parse(json.stdout) as {
      claims: { scopes: string[]; upn: string };
      signIn: { account: string; lapseCause: string };
      notInToken: string[];
    };
    assert.deepEqual(
      [answer.claims.scopes, answer.signIn.account, answer.signIn.lapseCause, answer.notInToken],
      [['IMAP.AccessAsUser.All'], bed.mailbox, 'inactivity', ['POP.AccessAsUser.All']],
    );
    // The emulator's refresh tokens look like 1.<uuid>.<base64url>; none is printed, with or without --show-token.
    const shown = await runCli(['token', '--config', lastFile, '--tenant', 'bed', '--show-token']);
    for (const output of [text, json, shown]) assert.doesNotMatch(output.stdout + output.stderr, /\b1\.[0-9a-f]{8}-[0-9a-f-]{27}\./);
    assert.match(shown.stdout, /access token \(keep it secret\):\neyJ/);
  });
});

describe('diagnosis of a delegated monitor', () => {
  test('the scp claim is read, and a missing delegated permission is told as one', () => {
    const payload = Buffer.from(JSON.stringify({ aud: 'https://outlook.office.com', scp: 'IMAP.AccessAsUser.All SMTP.Send', upn: 'a@b.example' })).toString(
      'base64url',
    );
    const claims = decodeAccessToken(`eyJhbGciOiJub25lIn0.${payload}.x`);
    assert.ok(!('error' in claims));
    assert.deepEqual([claims.scopes, claims.upn, claims.roles], [['IMAP.AccessAsUser.All', 'SMTP.Send'], 'a@b.example', []]);
    const problems = tokenProblems(claims, {
      tenantId: 'contoso.onmicrosoft.com',
      resource: 'exchange',
      requiredRoles: ['POP.AccessAsUser.All'],
      grant: 'delegated',
      now: 0,
    });
    assert.deepEqual(
      problems.map((problem) => problem.detail),
      ['the token lacks the delegated permission POP.AccessAsUser.All (scp: IMAP.AccessAsUser.All, SMTP.Send)'],
    );
  });

  test('no fix for a delegated monitor sends the admin to a service principal, application roles or a client secret', async () => {
    const { file } = writeMonitors(bed, {
      monitors: [{ name: 'user', checks: ['imap', 'smtp'], mailbox: 'shared@contoso.onmicrosoft.com' }],
      tenantExtra: { credential: { type: 'delegated', account: bed.mailbox } },
    });
    const monitor = loadConfigFile(file).monitors[0];
    assert.ok(monitor);
    const ref = monitorRef(monitor);
    for (const reason of REASONS) {
      // The app itself (disabled, unknown, its own credentials) is still the app's business, whoever signs in; the
      // Graph check signs in as the app only.
      if (/^token_(app_disabled|unknown_app|federated|assertion|invalid_client|secret|certificate)/.test(reason)) continue;
      if (reason === 'managed_identity_unavailable' || reason === 'graph_access_blocked') continue;
      for (const protocol of ['imap', 'smtp'] as const) {
        const diagnosis = diagnose({ reason, stage: 'auth', protocol, now: 0, monitor: ref });
        const text = [diagnosis.summary, ...diagnosis.candidates, ...diagnosis.fixes].join('\n');
        assert.doesNotMatch(text, /service principal|ServicePrincipal|AccessAsApp|client secret|Enterprise-app ObjectId/i, `${reason} (${protocol}):\n${text}`);
      }
    }
    // Another mailbox than the account's own: the grant goes to the user.
    const other = diagnose({ reason: 'auth_failed', stage: 'auth', protocol: 'imap', now: 0, monitor: ref });
    assert.ok(
      other.fixes.includes(
        'Add-MailboxPermission -Identity shared@contoso.onmicrosoft.com -User probe@contoso.onmicrosoft.com -AccessRights FullAccess -AutoMapping $false',
      ),
      other.fixes.join('\n'),
    );
  });
});

describe('doctor on a delegated monitor', () => {
  test('judges the delegated permissions (scp) the checks need, and names the user’s sign-in as the token’s source', () => {
    const monitor = {
      name: 'user',
      mailbox: 'probe@c.example',
      tenantId: 't',
      clientId: 'c',
      credential: { kind: 'delegated' as const, account: 'probe@c.example' },
    };
    const items = buildChecklist({
      monitor,
      checks: ['imap', 'smtp'],
      credential: { ok: true, detail: 'signed in' },
      token: { ok: true, claims: { aud: 'https://outlook.office.com', roles: [], scopes: ['IMAP.AccessAsUser.All'], upn: 'probe@c.example' } },
      results: {},
      now: 0,
    });
    const byId = new Map(items.map((item) => [item.id, item]));
    assert.equal(byId.get('token')?.title, 'Token issued by Entra ID (the user’s sign-in)');
    assert.equal(byId.get('roles')?.title, 'Delegated permissions consented (IMAP.AccessAsUser.All, SMTP.Send)');
    assert.equal(byId.get('roles')?.verdict, 'warn');
    assert.match(
      byId.get('roles')?.detail ?? '',
      /^not in the token: SMTP\.Send \(token scp: IMAP\.AccessAsUser\.All\); a sign-in carries only what was consented/,
    );
  });
});
