import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { imapProbe } from '../../src/probes/imap.js';
import { pop3Probe } from '../../src/probes/pop3.js';
import { smtpProbe } from '../../src/probes/smtp.js';
import type { Protocol } from '../../src/core/check.js';
import type { ProbeFn } from '../../src/probes/types.js';
import { closedPort, startScriptedServer, testContext, testPki, testXOAuth2, assertNoCredential, type ScriptStep } from '../support/scripted-server.js';
import { startScriptedProxy, type ProxyBehaviour, type ScriptedProxy } from '../support/scripted-proxy.js';

// The mail probes through an outbound proxy (HTTP CONNECT), against in-process scripted proxies for byte-exact
// faults. The real proxy (tinyproxy) with the Exchange emulator is test/integration/proxy-tinyproxy.test.ts.

const PASSWORD = 'hunter2';

async function throughProxy(probe: ProbeFn, protocol: Protocol, proxy: ScriptedProxy | string, script: ScriptStep[], tls: 'implicit' | 'starttls') {
  const pki = await testPki();
  const server = await startScriptedServer({ ...(tls === 'starttls' ? { startTls: pki.server } : { tls: pki.server }), script });
  const ctx = testContext({ protocol, port: server.port, ca: [pki.ca.cert], stepTimeoutMs: 3000 });
  const url = typeof proxy === 'string' ? proxy : proxy.url;
  // A name, so the SNI and the certificate check are for it while the proxy does the connecting.
  ctx.endpoints[protocol] = { ...ctx.endpoints[protocol], host: 'localhost', proxy: url.replace('http://', `http://svc:${PASSWORD}@`) };
  try {
    const outcome = await probe(ctx);
    if (script.length > 0) await server.finished;
    assertNoCredential(outcome, ctx.transcript);
    const shown = JSON.stringify(outcome) + ctx.transcript.lines.join('\n');
    assert.ok(!shown.includes(PASSWORD) && !shown.includes(Buffer.from(`svc:${PASSWORD}`).toString('base64')), 'the proxy password leaked');
    return { outcome, server, transcript: ctx.transcript.lines };
  } finally {
    await server.close();
  }
}

const POP3_HEALTHY: ScriptStep[] = [
  { send: '+OK The Microsoft Exchange POP3 service is ready.\r\n' },
  { expect: 'CAPA', reply: '+OK\r\nSASL PLAIN XOAUTH2\r\nUSER\r\n.\r\n' },
  { expect: 'AUTH XOAUTH2', reply: '+ \r\n' },
  { expect: testXOAuth2(), reply: '+OK User successfully authenticated.\r\n' },
  { expect: 'STAT', reply: '+OK 0 0\r\n' },
  { expect: 'QUIT', reply: '+OK Microsoft Exchange Server POP3 server signing off.\r\n' },
  { close: true },
];

describe('mail probes through an outbound proxy', () => {
  const proxies: ScriptedProxy[] = [];
  const start = async (behaviour: ProxyBehaviour) => {
    const proxy = await startScriptedProxy(behaviour);
    proxies.push(proxy);
    return proxy;
  };
  after(async () => {
    for (const proxy of proxies) await proxy.close();
  });

  test('pop3: implicit TLS inside the tunnel, the same steps as direct, and the transcript names the proxy', async () => {
    const proxy = await start({ forward: true });
    const { outcome, server, transcript } = await throughProxy(pop3Probe, 'pop3', proxy, POP3_HEALTHY, 'implicit');
    assert.equal(outcome.ok, true, JSON.stringify(outcome.failure));
    assert.deepEqual(server.problems, []);
    assert.match(proxy.heads[0] ?? '', /^CONNECT localhost:\d+ HTTP\/1\.1\r\nHost: localhost:\d+\r\nProxy-Authorization: Basic /);
    assert.deepEqual(
      outcome.steps.map((s) => s.step),
      ['connect', 'tls', 'greeting', 'capability', 'auth', 'stat', 'logout'],
    );
    assert.ok(
      transcript.some((line) => line.includes(`through ${proxy.url} (config)`)),
      transcript.join('\n'),
    );
  });

  test('smtp: plain greeting and STARTTLS inside the tunnel (the EHLO after TLS is what fails here)', async () => {
    const proxy = await start({ forward: true });
    const ehlo = (extra: string) => `250-localhost Hello\r\n${extra}250 SIZE 157286400\r\n`;
    const { outcome, server } = await throughProxy(
      smtpProbe,
      'smtp',
      proxy,
      [
        { send: '220 localhost Microsoft ESMTP MAIL Service ready\r\n' },
        { expect: /EHLO \S+/, reply: ehlo('250-STARTTLS\r\n') },
        { expect: 'STARTTLS', reply: '220 2.0.0 SMTP server ready\r\n' },
        { startTls: true },
        { expect: /EHLO \S+/, reply: ehlo('250-AUTH LOGIN\r\n') },
      ],
      'starttls',
    );
    assert.deepEqual(server.problems, []);
    assert.equal(outcome.failure?.reason, 'xoauth2_not_offered');
    assert.equal(outcome.failure?.stage, 'capability');
  });

  test('imap: the proxy’s 403 is proxy_refused at connect, with its status line as the server text', async () => {
    const proxy = await start({
      reply:
        'HTTP/1.1 403 Access violation\r\nContent-Type: text/html\r\n\r\nThe administrator of this proxy has not configured it to service requests from you.',
    });
    const { outcome } = await throughProxy(imapProbe, 'imap', proxy, [], 'implicit');
    assert.equal(outcome.ok, false);
    assert.equal(outcome.failure?.reason, 'proxy_refused');
    assert.equal(outcome.failure?.stage, 'connect');
    assert.equal(outcome.failure?.serverText, 'HTTP/1.1 403 Access violation');
    assert.match(outcome.failure?.message ?? '', new RegExp(`^the proxy ${proxy.url} refused CONNECT to localhost:\\d+: HTTP/1.1 403 Access violation$`));
  });

  test('smtp: 407 is proxy_auth_required; pop3: nothing at the proxy address is proxy_unreachable', async () => {
    const proxy = await start({ reply: 'HTTP/1.1 407 Proxy Authentication Required\r\n\r\n' });
    const auth = await throughProxy(smtpProbe, 'smtp', proxy, [], 'starttls');
    assert.equal(auth.outcome.failure?.reason, 'proxy_auth_required');
    assert.equal(auth.outcome.failure?.stage, 'connect');
    const unreachable = await throughProxy(pop3Probe, 'pop3', `http://127.0.0.1:${await closedPort()}`, [], 'implicit');
    assert.equal(unreachable.outcome.failure?.reason, 'proxy_unreachable');
    assert.match(unreachable.outcome.failure?.message ?? '', /^cannot connect to the proxy http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/);
  });

  test('a proxy that never answers CONNECT: proxy_timeout naming the proxy, not the generic step timeout', async () => {
    const proxy = await start({ hang: true });
    const pki = await testPki();
    const ctx = testContext({ protocol: 'imap', port: 993, ca: [pki.ca.cert], stepTimeoutMs: 400 });
    ctx.endpoints.imap = { ...ctx.endpoints.imap, proxy: proxy.url };
    const outcome = await imapProbe(ctx);
    assert.equal(outcome.failure?.reason, 'proxy_timeout');
    assert.match(outcome.failure?.message ?? '', new RegExp(`^the proxy ${proxy.url} did not answer CONNECT to 127\\.0\\.0\\.1:993 within \\d+ ms$`));
  });
});
