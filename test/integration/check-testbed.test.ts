import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createPki } from '../../src/sandbox/certs.js';
import { runCli, type CliRun } from '../support/cli.js';
import { writeMonitors } from '../support/monitors.js';
import { startTestbed, type Testbed } from '../support/testbed/index.js';

// `mailprobe check --json` against real Dovecot and Postfix, with faults made the way they happen in a
// tenant: in the token service's model, in the mailbox permissions, or on the network.

interface JsonResult {
  check: string;
  outcome: { ok: boolean; failure?: { stage: string; reason: string; serverText?: string }; facts: Record<string, unknown> };
  diagnosis?: { reason: string; fixes: string[] };
  transcript: string[];
}

let bed: Testbed;
let hangServer: Server;
const hangSockets = new Set<Socket>();
let hangPort: number;
let closedPort: number;
let otherCa: string;
const outputs: string[] = [];

async function checkJson(options: Parameters<typeof writeMonitors>[1] = {}): Promise<{ run: CliRun; results: JsonResult[] }> {
  const { file } = writeMonitors(bed, options);
  const run = await runCli(['check', '--config', file, '--json']);
  outputs.push(run.stdout, run.stderr);
  const parsed = JSON.parse(run.stdout) as { ok: boolean; results: JsonResult[] };
  return { run, results: parsed.results };
}

function only(results: JsonResult[], check: string): JsonResult {
  const found = results.find((result) => result.check === check);
  assert.ok(found, `no ${check} result`);
  return found;
}

function listenPort(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    }),
  );
}

before(async () => {
  bed = await startTestbed();
  hangServer = createServer((socket) => {
    hangSockets.add(socket);
    socket.on('close', () => hangSockets.delete(socket));
  });
  hangPort = await listenPort(hangServer);
  const closed = createServer();
  closedPort = await listenPort(closed);
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  otherCa = (await createPki()).ca.cert;
});

after(async () => {
  for (const socket of hangSockets) socket.destroy();
  hangServer?.close();
  await bed?.close();
});

describe('mailprobe check against real Dovecot and Postfix', () => {
  test('a healthy mailbox passes IMAP, SMTP and POP3', async () => {
    const { run, results } = await checkJson({ monitors: [{ checks: ['imap', 'smtp', 'pop3'] }] });
    assert.equal(run.code, 0, run.stdout + run.stderr + (await bed.logTail()));
    const imap = only(results, 'imap');
    assert.equal(imap.outcome.ok, true);
    assert.ok(Number(imap.outcome.facts.folderCount) >= 1);
    assert.ok(
      imap.transcript.some((line) => line.startsWith('S: ') && /OK/.test(line)),
      'the IMAP dialogue is in the transcript',
    );
    assert.equal(only(results, 'smtp').outcome.ok, true);
    assert.equal(only(results, 'pop3').outcome.ok, true);
  });

  test('the human transcript reads like the manual session, with a verdict', async () => {
    const { file } = writeMonitors(bed, { monitors: [{ checks: ['imap'] }] });
    const run = await runCli(['check', '--config', file]);
    outputs.push(run.stdout, run.stderr);
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.stdout, /C: .*AUTHENTICATE XOAUTH2/);
    assert.match(run.stdout, /PASS imap/);
    assert.match(run.stdout, /1 passed, 0 failed/);
  });

  const faults: Array<{
    name: string;
    check: 'imap' | 'smtp';
    reason: string;
    stage: string;
    setup: () => Parameters<typeof writeMonitors>[1];
    undo?: () => void;
  }> = [
    { name: 'bad client secret', check: 'imap', reason: 'token_invalid_client_secret', stage: 'token', setup: () => ({ secret: 'not-the-secret-value' }) },
    {
      name: 'expired client secret',
      check: 'imap',
      reason: 'token_secret_expired',
      stage: 'token',
      setup: () => {
        bed.model.expireSecret(bed.tenantId, bed.clientId);
        return {};
      },
      undo: () => {
        bed.model.revokeSecret(bed.tenantId, bed.clientId);
        bed.model.addSecret(bed.tenantId, bed.clientId, { value: bed.clientSecret });
      },
    },
    {
      name: 'IMAP role missing (consent): the server refuses, the diagnosis names the role',
      check: 'imap',
      reason: 'role_missing',
      stage: 'auth',
      setup: () => {
        bed.model.setRoles(bed.tenantId, bed.clientId, ['SMTP.SendAsApp', 'POP.AccessAsApp']);
        return {};
      },
      undo: () => bed.model.setRoles(bed.tenantId, bed.clientId, ['IMAP.AccessAsApp', 'POP.AccessAsApp', 'SMTP.SendAsApp']),
    },
    {
      name: 'token endpoint down',
      check: 'imap',
      reason: 'token_endpoint_unreachable',
      stage: 'token',
      setup: () => ({ authorityHost: `127.0.0.1:${closedPort}` }),
    },
    {
      name: 'IMAP connection refused',
      check: 'imap',
      reason: 'connect_refused',
      stage: 'connect',
      setup: () => ({ monitors: [{ checks: ['imap'], imap: { port: closedPort } }] }),
    },
    {
      name: 'untrusted IMAP certificate',
      check: 'imap',
      reason: 'tls_untrusted',
      stage: 'tls',
      setup: () => {
        const { dir } = writeMonitors(bed);
        writeFileSync(join(dir, 'other-ca.pem'), otherCa);
        return { monitors: [{ checks: ['imap'], tls: { caFile: join(dir, 'other-ca.pem') } }] };
      },
    },
    {
      name: 'IMAP server hangs',
      check: 'imap',
      reason: 'timeout',
      stage: 'tls',
      setup: () => ({ monitors: [{ checks: ['imap'], imap: { port: hangPort } }], defaults: { timeoutSeconds: 4, stepTimeoutSeconds: 1 } }),
    },
    {
      name: 'IMAP auth rejected (no FullAccess)',
      check: 'imap',
      reason: 'auth_failed',
      stage: 'auth',
      setup: () => {
        bed.model.setFullAccess(bed.tenantId, bed.mailbox, bed.clientId, false);
        return { monitors: [{ checks: ['imap'] }] };
      },
      undo: () => bed.model.setFullAccess(bed.tenantId, bed.mailbox, bed.clientId, true),
    },
    {
      name: 'SMTP auth rejected (no FullAccess)',
      check: 'smtp',
      reason: 'auth_failed',
      stage: 'auth',
      setup: () => {
        bed.model.setFullAccess(bed.tenantId, bed.mailbox, bed.clientId, false);
        return { monitors: [{ checks: ['smtp'] }] };
      },
      undo: () => bed.model.setFullAccess(bed.tenantId, bed.mailbox, bed.clientId, true),
    },
  ];

  for (const fault of faults) {
    test(`${fault.name} → ${fault.reason} at ${fault.stage}`, async () => {
      try {
        const { run, results } = await checkJson(fault.setup());
        assert.equal(run.code, 1);
        const result = only(results, fault.check);
        assert.equal(result.outcome.ok, false);
        // The reason every consumer reads: the diagnosis refines the probe's own (auth_failed → role_missing).
        assert.equal(result.diagnosis?.reason ?? result.outcome.failure?.reason, fault.reason, JSON.stringify(result.outcome.failure));
        if (fault.stage === 'tls' && fault.reason === 'timeout') assert.ok(['connect', 'tls', 'greeting'].includes(result.outcome.failure?.stage ?? ''));
        else assert.equal(result.outcome.failure?.stage, fault.stage);
        assert.ok((result.diagnosis?.fixes.length ?? 0) > 0, 'a failure always comes with a fix');
      } finally {
        fault.undo?.();
      }
    });
  }

  test('no secret, token or XOAUTH2 string appears in any output of these runs', () => {
    assert.ok(outputs.length > 10);
    const everything = outputs.join('\n');
    assert.ok(!everything.includes(bed.clientSecret), 'client secret leaked');
    assert.ok(!everything.includes('not-the-secret-value'), 'wrong secret leaked');
    assert.doesNotMatch(everything, /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./, 'a JWT leaked');
    assert.doesNotMatch(everything, /dXNlcj0[A-Za-z0-9+/]{20,}/, 'an XOAUTH2 string leaked');
    assert.doesNotMatch(everything, /auth=Bearer [^[]/, 'a bearer token leaked');
  });
});
