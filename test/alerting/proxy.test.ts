import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { sendOnce } from '../../src/alerting/notifier.js';
import { testAlert } from '../../src/cli/notify.js';
import type { NotifierConfigInput } from '../../src/config/alerting.js';
import { startScriptedProxy, type ScriptedProxy } from '../support/scripted-proxy.js';

// Notifiers reach their receivers through the outbound proxy the environment names: http_proxy in absolute form for
// an http:// URL, https_proxy with CONNECT for https://, no_proxy to skip it.

let receiver: http.Server;
let receiverPort = 0;
const received: { path: string; body: string }[] = [];

before(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body });
      res.writeHead(202).end('queued');
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  receiverPort = (receiver.address() as AddressInfo).port;
});

after(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

const webhook = (url: string): NotifierConfigInput => ({ name: 'hook', type: 'webhook', url });
const send = (url: string, env: NodeJS.ProcessEnv) => sendOnce(webhook(url), testAlert(Date.now()), { baseDir: process.cwd(), env, timeoutMs: 3000 });

describe('notifiers through an outbound proxy', () => {
  const proxies: ScriptedProxy[] = [];
  after(async () => {
    for (const proxy of proxies) await proxy.close();
  });

  test('http_proxy: the request goes to the proxy in absolute form with Proxy-Authorization, and the receiver answers', async () => {
    const proxy = await startScriptedProxy({ forward: true });
    proxies.push(proxy);
    const url = `http://127.0.0.1:${receiverPort}/hooks/T000/secret-path`;
    const answer = await send(url, { http_proxy: proxy.url.replace('http://', 'http://svc:pw@') });
    assert.deepEqual(answer, { ok: true, status: 202, body: 'queued' });
    assert.match(proxy.heads[0] ?? '', new RegExp(`^POST ${url} HTTP/1.1\r\n`));
    assert.match(proxy.heads[0] ?? '', new RegExp(`\r\nproxy-authorization: Basic ${Buffer.from('svc:pw').toString('base64')}`, 'i'));
    assert.equal(received.at(-1)?.path, '/hooks/T000/secret-path');
    assert.match(received.at(-1)?.body ?? '', /mailprobe/);
  });

  test('no_proxy sends the receiver direct', async () => {
    const proxy = await startScriptedProxy({ forward: true });
    proxies.push(proxy);
    const answer = await send(`http://127.0.0.1:${receiverPort}/direct`, { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.0/8' });
    assert.equal('status' in answer && answer.status, 202);
    assert.deepEqual(proxy.heads, []);
  });

  test('https_proxy refusing CONNECT: the error names the proxy and the receiver’s host, never the URL’s secret path', async () => {
    const proxy = await startScriptedProxy({ reply: 'HTTP/1.1 403 Forbidden\r\n\r\n' });
    proxies.push(proxy);
    const answer = await send('https://hooks.slack.example/services/T000/B000/XXXXSECRET', { https_proxy: proxy.url });
    assert.equal(answer.ok, false);
    assert.ok('error' in answer);
    assert.equal(answer.error, `EPROXYREFUSED: the proxy ${proxy.url} refused CONNECT to hooks.slack.example:443: HTTP/1.1 403 Forbidden`);
    assert.equal(proxy.heads[0], 'CONNECT hooks.slack.example:443 HTTP/1.1\r\nHost: hooks.slack.example:443');
  });
});
