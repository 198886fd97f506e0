import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decideProxy, describeDecision, matchesNoProxy, proxySettingProblem, type ProxyTarget } from '../../src/config/proxy.js';

const login: ProxyTarget = { scheme: 'https', host: 'login.microsoftonline.com', port: 443 };
const imap: ProxyTarget = { scheme: 'mail', host: 'outlook.office365.com', port: 993 };

describe('proxy decision', () => {
  test('https targets take https_proxy, then all_proxy; the lower-case name wins over the upper-case one', () => {
    const both = decideProxy(login, undefined, { https_proxy: 'http://low:3128', HTTPS_PROXY: 'http://up:3128', ALL_PROXY: 'http://all:1' });
    assert.equal(both.kind === 'proxy' && both.route.display, 'http://low:3128');
    assert.equal(both.kind === 'proxy' && both.route.source, 'https_proxy');
    const fallback = decideProxy(login, undefined, { ALL_PROXY: 'http://all:8080' });
    assert.equal(fallback.kind === 'proxy' && fallback.route.source, 'ALL_PROXY');
    const plainHttp = decideProxy({ scheme: 'http', host: 'hooks.example', port: 80 }, undefined, { HTTPS_PROXY: 'http://up:3128', HTTP_PROXY: 'http://h:8' });
    assert.equal(plainHttp.kind === 'proxy' && plainHttp.route.source, 'HTTP_PROXY');
  });

  test('the mail protocols ignore HTTPS_PROXY and take ALL_PROXY', () => {
    assert.deepEqual(decideProxy(imap, undefined, { HTTPS_PROXY: 'http://up:3128' }), { kind: 'direct', why: 'no proxy configured' });
    const all = decideProxy(imap, undefined, { HTTPS_PROXY: 'http://up:3128', all_proxy: 'proxy.corp:3128' });
    assert.equal(all.kind === 'proxy' && all.route.display, 'http://proxy.corp:3128');
  });

  test('the configured setting wins over the environment; "direct" ignores it', () => {
    const env = { all_proxy: 'http://env:1', https_proxy: 'http://env:2', no_proxy: '*' };
    const configured = decideProxy(imap, 'http://cfg:3128', env);
    assert.equal(configured.kind === 'proxy' && configured.route.source, 'config');
    assert.deepEqual(decideProxy(login, 'direct', env), { kind: 'direct', why: 'proxy "direct" in the configuration' });
  });

  test('no_proxy sends a matching host direct and says so', () => {
    const decision = decideProxy(login, undefined, { HTTPS_PROXY: 'http://p:3128', NO_PROXY: '.microsoftonline.com' });
    assert.deepEqual(decision, { kind: 'direct', why: 'NO_PROXY matches login.microsoftonline.com' });
    assert.equal(describeDecision(decision), 'direct (NO_PROXY matches login.microsoftonline.com)');
  });

  test('user info becomes a Basic Proxy-Authorization and is never shown', () => {
    const decision = decideProxy(imap, 'http://svc%40corp:p%3Ass@proxy:3128', {});
    assert.equal(decision.kind, 'proxy');
    if (decision.kind !== 'proxy') return;
    assert.equal(decision.route.authorization, `Basic ${Buffer.from('svc@corp:p:ss').toString('base64')}`);
    assert.equal(decision.route.display, 'http://proxy:3128');
    assert.ok(!describeDecision(decision).includes('p%3Ass') && !describeDecision(decision).includes('svc'));
  });

  test('a URL without a port gets curl’s 1080; an IPv6 proxy keeps its brackets in the display', () => {
    const bare = decideProxy(imap, 'http://proxy', {});
    assert.equal(bare.kind === 'proxy' && bare.route.port, 1080);
    assert.equal(bare.kind === 'proxy' && bare.route.display, 'http://proxy:1080');
    const v6 = decideProxy(imap, 'http://[::1]:3128', {});
    assert.equal(v6.kind === 'proxy' && v6.route.host, '::1');
    assert.equal(v6.kind === 'proxy' && v6.route.display, 'http://[::1]:3128');
  });

  test('an unusable setting says what is wrong without quoting it (it may hold a password)', () => {
    const cases: [string, RegExp][] = [
      ['https://user:hunter2@proxy:3128', /uses https:\/\/; mailprobe speaks to a proxy over http:\/\/ \(HTTP CONNECT\) only/],
      ['socks5://user:hunter2@proxy:1080', /uses socks5:/],
      ['http://user:hunter2@proxy:3128/path', /has a path or query/],
      ['http://user:hunter2@pro xy:3128', /is not a proxy URL/],
    ];
    for (const [setting, expected] of cases) {
      const decision = decideProxy(imap, undefined, { ALL_PROXY: setting });
      assert.equal(decision.kind, 'invalid', setting);
      if (decision.kind !== 'invalid') continue;
      assert.match(decision.message, /^ALL_PROXY /);
      assert.match(decision.message, expected);
      assert.ok(!decision.message.includes('hunter2'), decision.message);
    }
    assert.equal(proxySettingProblem('direct'), undefined);
    assert.equal(proxySettingProblem('http://proxy:3128'), undefined);
    assert.match(proxySettingProblem('ftp://proxy') ?? '', /^proxy uses ftp:/);
  });
});

describe('no_proxy matching (curl’s rules)', () => {
  const cases: [string, string, number, boolean][] = [
    ['*', 'anything.example', 443, true],
    ['microsoftonline.com', 'login.microsoftonline.com', 443, true],
    ['.microsoftonline.com', 'login.microsoftonline.com', 443, true],
    ['microsoftonline.com', 'microsoftonline.com', 443, true],
    ['microsoftonline.com', 'notmicrosoftonline.com', 443, false],
    ['LOGIN.microsoftonline.com', 'login.MicrosoftOnline.com.', 443, true],
    ['example.com, office365.com', 'outlook.office365.com', 993, true],
    ['example.com office365.com', 'outlook.office365.com', 993, true],
    ['office365.com:587', 'smtp.office365.com', 587, true],
    ['office365.com:587', 'outlook.office365.com', 993, false],
    ['10.0.0.0/8', '10.1.2.3', 993, true],
    ['10.0.0.0/8', '11.1.2.3', 993, false],
    ['127.0.0.1', '127.0.0.1', 8443, true],
    ['127.0.0.1', '127.0.0.2', 8443, false],
    ['::1', '::1', 993, true],
    ['[::1]:993', '::1', 993, true],
    ['fd00::/8', 'fd12::5', 993, true],
    // An address entry never matches a name, nor a name entry an address.
    ['127.0.0.1', 'localhost', 993, false],
    ['0.1', '10.0.0.1', 993, false],
    ['', 'outlook.office365.com', 993, false],
  ];
  for (const [noProxy, host, port, expected] of cases) {
    test(`${JSON.stringify(noProxy)} ${expected ? 'matches' : 'does not match'} ${host}:${port}`, () => {
      assert.equal(matchesNoProxy(noProxy, host, port), expected);
    });
  }
});
