import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, type CliRun } from '../support/cli.js';
import { startEmulatorBed, type EmulatorBed } from '../support/emulator-bed.js';
import { writeMonitors } from '../support/monitors.js';

// The outbound proxy against a real forward proxy from Debian (tinyproxy, .ci/install-packages.sh) on loopback, with
// the Entra ID and Exchange Online emulators behind it: `check` with every mail check and the token request through
// the proxy, a proxy whose rules deny the mail ports, and one that wants credentials. The byte-exact faults (a hostile
// reply head, a proxy that never answers) are the scripted proxies' (test/net/tunnel.test.ts).

interface JsonResult {
  check: string;
  outcome: { ok: boolean; failure?: { stage: string; reason: string; serverText?: string; message: string } };
  diagnosis?: { reason: string; summary?: string; fixes: string[] };
  transcript: string[];
}

interface Tinyproxy {
  url: string;
  /** tinyproxy's own log so far (LogLevel Connect: one "Request … CONNECT host:port" line per tunnel). */
  log(): string;
  close(): Promise<void>;
}

const USER = 'svc-mailprobe';
const PASSWORD = 'pr0xy-s3cret';

let bed: EmulatorBed;
const proxies: Tinyproxy[] = [];

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** tinyproxy in the foreground on a free loopback port; `rules` are extra config lines (ConnectPort, BasicAuth). */
async function startTinyproxy(rules: string[]): Promise<Tinyproxy> {
  // tinyproxy takes its port from the config file only, so a free one is looked up first (and tried again if taken).
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'mailprobe-tinyproxy-'));
    const conf = join(dir, 'tinyproxy.conf');
    writeFileSync(conf, [`Port ${port}`, 'Listen 127.0.0.1', 'Timeout 30', 'LogLevel Connect', 'MaxClients 50', 'Allow 127.0.0.1', ...rules, ''].join('\n'));
    let output = '';
    const child: ChildProcess = spawn('tinyproxy', ['-d', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    for (let wait = 0; wait < 50 && child.exitCode === null; wait++) {
      if (await accepts(port)) {
        const proxy = {
          url: `http://127.0.0.1:${port}`,
          log: () => output,
          close: async () => {
            child.kill('SIGTERM');
            await exited;
          },
        };
        proxies.push(proxy);
        return proxy;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    child.kill('SIGKILL');
    await exited;
  }
  throw new Error('tinyproxy did not start');
}

const withCredentials = (url: string, password = PASSWORD): string => url.replace('http://', `http://${USER}:${encodeURIComponent(password)}@`);

async function check(
  proxy: { tenant?: string; mail?: string },
  checks = ['imap', 'pop3', 'smtp', 'roundtrip'],
): Promise<{ run: CliRun; results: JsonResult[] }> {
  const { file } = writeMonitors(bed, {
    monitors: [{ checks: checks as never }],
    ...(proxy.mail ? { defaults: { proxy: proxy.mail } } : {}),
    ...(proxy.tenant ? { tenantExtra: { proxy: proxy.tenant } } : {}),
  });
  const run = await runCli(['check', '--config', file, '--json']);
  const parsed = JSON.parse(run.stdout) as { results: JsonResult[] };
  for (const text of [run.stdout, run.stderr]) {
    assert.ok(!text.includes(PASSWORD) && !text.includes(Buffer.from(`${USER}:${PASSWORD}`).toString('base64')), 'the proxy password leaked');
  }
  return { run, results: parsed.results };
}

function only(results: JsonResult[], kind: string): JsonResult {
  const found = results.find((result) => result.check === kind);
  assert.ok(found, `no ${kind} result`);
  return found;
}

before(async () => {
  bed = await startEmulatorBed();
});

after(async () => {
  for (const proxy of proxies) await proxy.close();
  await bed?.close();
});

describe('outbound proxy through tinyproxy', () => {
  test('every check and the token request go through the proxy (Basic credentials), with the same verdicts as direct', async () => {
    const ports = [bed.imap.port, bed.pop3.port, bed.smtp.port, Number(bed.entra.authorityHost.split(':')[1])];
    const proxy = await startTinyproxy([`BasicAuth ${USER} ${PASSWORD}`, ...ports.map((port) => `ConnectPort ${port}`)]);
    const url = withCredentials(proxy.url);
    const { run, results } = await check({ tenant: url, mail: url });
    for (const result of results) assert.equal(result.outcome.ok, true, `${result.check}: ${JSON.stringify(result.outcome.failure)}`);
    assert.equal(run.code, 0);
    for (const port of ports) assert.match(proxy.log(), new RegExp(`CONNECT 127\\.0\\.0\\.1:${port} HTTP/1\\.1`), `no tunnel to port ${port}`);
    assert.ok(
      only(results, 'imap').transcript.some((line) => line.includes(`through ${proxy.url} (config)`)),
      'the transcript says which proxy carried the connection',
    );
  });

  test('a proxy whose rules deny the mail ports: proxy_refused at connect with tinyproxy’s own status line, and its fix', async () => {
    const entraPort = Number(bed.entra.authorityHost.split(':')[1]);
    const proxy = await startTinyproxy([`ConnectPort ${entraPort}`]);
    const { run, results } = await check({ tenant: proxy.url, mail: proxy.url }, ['imap', 'smtp']);
    assert.notEqual(run.code, 0);
    for (const kind of ['imap', 'smtp']) {
      const failure = only(results, kind).outcome.failure;
      assert.equal(failure?.reason, 'proxy_refused', JSON.stringify(failure));
      assert.equal(failure?.stage, 'connect');
      assert.match(failure?.serverText ?? '', /^HTTP\/1\.[01] 403 /);
    }
    const diagnosis = only(results, 'imap').diagnosis;
    assert.ok(
      diagnosis?.fixes.some((fix) => fix.includes(`ConnectPort ${bed.imap.port}`)),
      JSON.stringify(diagnosis),
    );
  });

  test('a wrong proxy password: proxy_auth_required on the token request, before any mail server is asked', async () => {
    const entraPort = Number(bed.entra.authorityHost.split(':')[1]);
    const proxy = await startTinyproxy([`BasicAuth ${USER} ${PASSWORD}`, `ConnectPort ${entraPort}`, `ConnectPort ${bed.imap.port}`]);
    const wrong = withCredentials(proxy.url, 'not-the-password');
    const { results } = await check({ tenant: wrong, mail: 'direct' }, ['imap']);
    const failure = only(results, 'imap').outcome.failure;
    assert.equal(failure?.reason, 'proxy_auth_required', JSON.stringify(failure));
    assert.equal(failure?.stage, 'token');
    // tinyproxy 1.11 answers 401 here where other proxies answer 407; both mean its credentials.
    assert.match(failure?.serverText ?? '', /^HTTP\/1\.[01] 40[17] /);
    assert.ok(!JSON.stringify(results).includes('not-the-password'));
  });

  test('nothing listening at the proxy address: proxy_unreachable, not the mail server’s connect_refused', async () => {
    const { results } = await check({ mail: `http://127.0.0.1:${await freePort()}` }, ['pop3']);
    const failure = only(results, 'pop3').outcome.failure;
    assert.equal(failure?.reason, 'proxy_unreachable', JSON.stringify(failure));
  });
});
