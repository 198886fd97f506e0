import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import { decideProxy, type ProxyRoute } from '../../src/config/proxy.js';
import { MAX_PROXY_REPLY_BYTES, openTunnel, ProxyError } from '../../src/net/tunnel.js';
import { closedPort } from '../support/scripted-server.js';
import { startScriptedProxy, type ScriptedProxy } from '../support/scripted-proxy.js';

function routeTo(proxy: { url: string }, userinfo = ''): ProxyRoute {
  const decision = decideProxy({ scheme: 'mail', host: 'x', port: 1 }, proxy.url.replace('http://', `http://${userinfo}`), {});
  assert.equal(decision.kind, 'proxy');
  if (decision.kind !== 'proxy') throw new Error('unreachable');
  return decision.route;
}

/** A target that greets like an SMTP server and echoes what it gets. */
async function greetingServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((socket) => {
    socket.write('220 ready\r\n');
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function failure(proxy: ScriptedProxy, options: { userinfo?: string; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ProxyError> {
  try {
    const socket = await openTunnel({
      route: routeTo(proxy, options.userinfo),
      host: 'outlook.office365.com',
      port: 993,
      timeoutMs: options.timeoutMs ?? 3000,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    socket.destroy();
  } catch (err) {
    assert.ok(err instanceof ProxyError, String(err));
    return err;
  }
  assert.fail('the tunnel opened');
}

describe('HTTP CONNECT tunnel', () => {
  const proxies: ScriptedProxy[] = [];
  const start = async (...args: Parameters<typeof startScriptedProxy>) => {
    const proxy = await startScriptedProxy(...args);
    proxies.push(proxy);
    return proxy;
  };
  after(async () => {
    for (const proxy of proxies) await proxy.close();
  });

  test('sends CONNECT with Host and Basic credentials, then carries the target’s bytes both ways', async () => {
    const target = await greetingServer();
    try {
      const proxy = await start({ forward: true, established: '' });
      const socket = await openTunnel({ route: routeTo(proxy, 'svc:s3cret@'), host: '127.0.0.1', port: target.port, timeoutMs: 3000 });
      const [first] = (await once(socket, 'data')) as [Buffer];
      assert.equal(first.toString(), '220 ready\r\n');
      socket.write('EHLO x\r\n');
      const [echo] = (await once(socket, 'data')) as [Buffer];
      assert.equal(echo.toString(), 'EHLO x\r\n');
      socket.destroy();
      assert.equal(
        proxy.heads[0],
        `CONNECT 127.0.0.1:${target.port} HTTP/1.1\r\nHost: 127.0.0.1:${target.port}\r\nProxy-Authorization: Basic ${Buffer.from('svc:s3cret').toString('base64')}`,
      );
    } finally {
      await target.close();
    }
  });

  test('bytes after the 200 in the same packet reach the reader first', async () => {
    const target = await greetingServer();
    try {
      const proxy = await start({ forward: true, established: 'EARLY\r\n' });
      const socket = await openTunnel({ route: routeTo(proxy), host: '127.0.0.1', port: target.port, timeoutMs: 3000 });
      let text = '';
      for await (const chunk of socket as AsyncIterable<Buffer>) {
        text += chunk.toString();
        if (text.includes('220 ready\r\n')) break;
      }
      assert.ok(text.startsWith('EARLY\r\n'), text);
      socket.destroy();
    } finally {
      await target.close();
    }
  });

  test('407 without credentials in the URL: EPROXYAUTH, saying none were given', async () => {
    const proxy = await start({ reply: 'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="corp"\r\nContent-Length: 0\r\n\r\n' });
    const err = await failure(proxy);
    assert.equal(err.code, 'EPROXYAUTH');
    assert.equal(err.statusLine, 'HTTP/1.1 407 Proxy Authentication Required');
    assert.match(err.message, /requires credentials \(none in the proxy URL\) for CONNECT to outlook\.office365\.com:993/);
    assert.ok(!proxy.heads[0]?.includes('Proxy-Authorization'));
  });

  test('407 with credentials: refused credentials, and neither the password nor its Basic form in the error', async () => {
    const proxy = await start({ reply: 'HTTP/1.0 407 Proxy Authentication Required\r\n\r\n' });
    const err = await failure(proxy, { userinfo: 'svc:hunter2@' });
    assert.equal(err.code, 'EPROXYAUTH');
    assert.match(err.message, /refused the credentials in the proxy URL/);
    const shown = JSON.stringify({ message: err.message, statusLine: err.statusLine, proxy: err.proxy, stack: err.stack });
    for (const secret of ['hunter2', Buffer.from('svc:hunter2').toString('base64'), 'svc:']) assert.ok(!shown.includes(secret), secret);
  });

  test('401, as tinyproxy answers a CONNECT without valid credentials, is EPROXYAUTH too', async () => {
    const proxy = await start({ reply: 'HTTP/1.0 401 Unauthorized\r\nServer: tinyproxy/1.11.1\r\n\r\n' });
    const err = await failure(proxy, { userinfo: 'svc:wrong@' });
    assert.equal(err.code, 'EPROXYAUTH');
    assert.equal(err.statusLine, 'HTTP/1.0 401 Unauthorized');
  });

  test('403 from the proxy’s rules: EPROXYREFUSED with its status line', async () => {
    const proxy = await start({ reply: 'HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\n\r\n<html>denied</html>' });
    const err = await failure(proxy);
    assert.equal(err.code, 'EPROXYREFUSED');
    assert.equal(err.statusLine, 'HTTP/1.1 403 Forbidden');
    assert.equal(err.message, `the proxy ${proxy.url} refused CONNECT to outlook.office365.com:993: HTTP/1.1 403 Forbidden`);
  });

  test('a reply head that never ends is cut at the bound: EPROXYPROTOCOL', async () => {
    const proxy = await start({ flood: 'X-Filler: ' + 'a'.repeat(1000) + '\r\n' });
    const err = await failure(proxy);
    assert.equal(err.code, 'EPROXYPROTOCOL');
    assert.match(err.message, new RegExp(`more than ${MAX_PROXY_REPLY_BYTES} bytes of head`));
  });

  test('no status line: EPROXYPROTOCOL, the control characters of the answer not passed on', async () => {
    const proxy = await start({ reply: 'SSH-2.0-OpenSSH_9.2\x1b[31m\r\n\r\n' });
    const err = await failure(proxy);
    assert.equal(err.code, 'EPROXYPROTOCOL');
    assert.equal(err.statusLine, 'SSH-2.0-OpenSSH_9.2?[31m');
  });

  test('a proxy that accepts and never answers: EPROXYTIMEOUT at the bound', async () => {
    const proxy = await start({ hang: true });
    const err = await failure(proxy, { timeoutMs: 300 });
    assert.equal(err.code, 'EPROXYTIMEOUT');
    assert.match(err.message, /did not answer CONNECT to outlook\.office365\.com:993 within 300 ms/);
  });

  test('an abort ends the wait at once', async () => {
    const proxy = await start({ hang: true });
    const controller = new AbortController();
    setImmediate(() => controller.abort());
    const err = await failure(proxy, { signal: controller.signal, timeoutMs: 60_000 });
    assert.equal(err.code, 'EPROXYTIMEOUT');
    assert.match(err.message, /^aborted while/);
  });

  test('nothing listens at the proxy address: EPROXYUNREACHABLE with the socket code', async () => {
    const port = await closedPort();
    const err = await failure({ url: `http://127.0.0.1:${port}` } as ScriptedProxy);
    assert.equal(err.code, 'EPROXYUNREACHABLE');
    assert.equal(err.message, `cannot connect to the proxy http://127.0.0.1:${port} (ECONNREFUSED)`);
  });
});
