import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcryptjs';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { LoadedConfig } from '../../src/config/types.js';
import type { CheckResult } from '../../src/core/result.js';
import type { ReasonCode } from '../../src/core/reasons.js';
import { startAgent, type AgentHandle } from '../../src/daemon/start.js';
import { openSqliteStore } from '../../src/history/backends/sqlite.js';
import { HistoryRecorder } from '../../src/history/recorder.js';
import { historySettings } from '../../src/history/settings.js';
import { DEMO_SCRIPT, startDemoEnvironment, type DemoEnvironment } from '../../src/sandbox/demo.js';
import { FakeClock, MemoryLogger } from '../alerting/support.js';
import { record } from '../support/fold.js';

// The status page in a real browser (Debian's Chromium), against the real agent checking the Exchange and
// Entra emulators, one tenant's client secret expired: what a visitor sees, what axe-core finds, and
// screenshots of both views in light and dark, desktop and phone, kept for people to look at.

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'status-page');
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// The listener has basic auth (an exporter-toolkit web config), as a deployment that publishes /status would.
const OPERATOR = { user: 'ops', password: 'status-page-e2e' };
const OPERATOR_HEADER = { Authorization: `Basic ${Buffer.from(`${OPERATOR.user}:${OPERATOR.password}`).toString('base64')}` };
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** The little of the page's window the test calls (compiled without the DOM library). */
interface PageWindow {
  getComputedStyle(element: unknown, pseudo: string): { content: string };
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown[] }>;
}

async function axeScan(page: Page): Promise<AxeViolation[]> {
  // Evaluated through the DevTools protocol, which the page's Content-Security-Policy (no inline scripts) does not
  // govern; a script tag would be refused, as the policy intends.
  await page.evaluate(AXE_SOURCE);
  // A string, as the test is compiled without the DOM library; it runs in the page.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- evaluate() of a string is typed by its caller
  return page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((result) =>
    result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })))`) as Promise<
    AxeViolation[]
  >;
}

async function screenshots(page: Page, url: string, name: string): Promise<void> {
  for (const [size, width, height] of [
    ['desktop', 1280, 900],
    ['phone', 390, 844],
  ] as const) {
    for (const scheme of ['light', 'dark'] as const) {
      await page.setViewportSize({ width, height });
      await page.emulateMedia({ colorScheme: scheme });
      await page.goto(url);
      await page.screenshot({ path: join(ARTIFACTS, `${name}-${size}-${scheme}.png`), fullPage: true });
    }
  }
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const SEED_DAYS = 7;
/** Incidents written into the past week: [monitor, check, days ago, start hour UTC, hours, reason]. */
const PAST_INCIDENTS: ReadonlyArray<readonly [string, 'imap' | 'smtp', number, number, number, ReasonCode]> = [
  ['fabrikam-scanner', 'smtp', 3, 10, 3, 'smtp_auth_disabled_tenant'],
  ['contoso-helpdesk', 'imap', 5, 6, 2, 'timeout'],
];

/**
 * A week of history before the agent starts, written by the real recorder into the real SQLite store the
 * agent then opens: hourly results, two past incidents, and the recorder's own running period (without it
 * the store counts the time as agent-down, unknown).
 */
async function seedHistory(config: LoadedConfig, now: number): Promise<void> {
  const store = await openSqliteStore(historySettings(config).sqliteFile, { now });
  const clock = new FakeClock();
  const todayStart = now - (now % DAY_MS);
  const from = todayStart - SEED_DAYS * DAY_MS;
  clock.time = from;
  const recorder = new HistoryRecorder({ store, clock, logger: new MemoryLogger(), flushMs: 3_600_000 });
  for (let at = from; at < todayStart; at += HOUR_MS) {
    clock.time = at;
    for (const monitor of config.monitors) {
      for (const check of ['imap', 'smtp'] as const) {
        const incident = PAST_INCIDENTS.find(([name, kind, ago, hour, hours]) => {
          const start = todayStart - ago * DAY_MS + hour * HOUR_MS;
          return name === monitor.name && kind === check && at >= start && at < start + hours * HOUR_MS;
        });
        const result: CheckResult = {
          monitor: monitor.name,
          tenant: monitor.tenant.key,
          mailbox: monitor.mailbox,
          check,
          startedAt: at,
          durationSeconds: 0.4,
          ...(incident ? { reason: incident[5] } : {}),
          outcome: incident
            ? {
                ok: false,
                steps: [],
                measured: {},
                facts: {},
                failure: { stage: 'auth', reason: incident[5], message: 'seeded failure', serverText: 'seeded server text' },
              }
            : { ok: true, steps: [], measured: {}, facts: {} },
        };
        record(recorder, result, { monitor: { intervalSeconds: 3600 } });
      }
    }
    await recorder.flush();
  }
  clock.time = todayStart;
  await recorder.close();
  await store.close();
}

describe('the status page in Chromium', () => {
  let env: DemoEnvironment;
  let agent: AgentHandle;
  let context: BrowserContext;
  let profile: string;
  let base: string;
  let secretsAndIds: string[];

  before(async () => {
    env = await startDemoEnvironment({ schedule: '*/2 * * * * *', checks: ['imap', 'smtp'], listen: '127.0.0.1:0' });
    // The demo's first fault, at once: fabrikam's client secret expires (AADSTS7000222).
    await DEMO_SCRIPT[0]?.apply(env);
    await seedHistory(env.config, Date.now());
    profile = mkdtempSync(join(tmpdir(), 'mailprobe-chromium-'));
    const webConfigFile = join(profile, 'web-config.yml');
    writeFileSync(webConfigFile, `basic_auth_users:\n  ${OPERATOR.user}: ${bcrypt.hashSync(OPERATOR.password, 4)}\n`);
    const sink = new PassThrough().resume();
    agent = await startAgent(env.config, { io: { stderr: sink, env: {} }, format: 'json', listen: '127.0.0.1:0', webConfigFile });
    base = agent.http.url;
    secretsAndIds = [
      ...env.tenants.flatMap((tenant) => [...tenant.mailboxes, tenant.domain, tenant.clientId]),
      ...env.model.tenants().map((tenant) => tenant.tenantId),
      'AADSTS',
    ];
    const deadline = Date.now() + 30_000;
    const settled = (): boolean => {
      const checks = agent.agent.status.list();
      return (
        checks.some((c) => c.monitor.startsWith('fabrikam') && c.state === 'failing') && checks.some((c) => c.monitor.startsWith('contoso') && c.state === 'ok')
      );
    };
    while (!settled() && Date.now() < deadline) await sleep(250);
    assert.ok(
      settled(),
      `the agent sees fabrikam failing and contoso healthy: ${JSON.stringify(agent.agent.status.list().map((c) => [c.monitor, c.check, c.state]))}`,
    );

    mkdirSync(ARTIFACTS, { recursive: true });
    context = await chromium.launchPersistentContext(join(profile, 'chromium'), { executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
  });

  after(async () => {
    await context?.close();
    await agent?.stop();
    await env?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    console.log(`status page screenshots: ${ARTIFACTS}`);
  });

  test('the public view shows the failing monitor’s reason in plain words and 90 bars per check, and no address or ID', async () => {
    const page = await context.newPage();
    const response = await page.goto(`${base}/status`);
    assert.equal(response?.status(), 200);
    const fabrikam = page.locator('article', { has: page.getByRole('heading', { name: 'Fabrikam scanner' }) });
    await fabrikam.waitFor();
    assert.match(await fabrikam.innerText(), /Microsoft 365 refused the sign-in: the app’s secret has expired\./);
    assert.match(await fabrikam.innerText(), /Failing/);
    // eslint-disable-next-line @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access -- runs in the page; playwright types its elements loosely
    const bars = await page.locator('ol.bars').evaluateAll((lists) => lists.map((list) => list.querySelectorAll(':scope > li').length));
    const expected = env.config.monitors.reduce((sum, monitor) => sum + monitor.checks.length, 0);
    assert.equal(bars.length, expected, 'one bar list per check of every monitor');
    assert.deepEqual(new Set(bars), new Set([90]));
    const html = await page.content();
    for (const value of secretsAndIds) assert.ok(!html.includes(value), `the public page must not contain ${value}`);
    assert.doesNotMatch(html, /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[a-z]{2,}/, 'no mailbox address of any kind');

    // The week written before the agent started, read back from the store: fabrikam's SMTP failed for three
    // hours three days ago; that day's bar is striped and says so, the incident list has it, availability too.
    const smtpBars = fabrikam.locator('ol.bars').nth(1).locator('li');
    const threeDaysAgo = smtpBars.nth(89 - 3);
    assert.equal(await threeDaysAgo.getAttribute('class'), 'b f');
    assert.match((await threeDaysAgo.getAttribute('aria-label')) ?? '', /^\d{4}-\d{2}-\d{2}: 87\.5% available, failing 3 h$/);
    assert.equal(await smtpBars.nth(89 - 2).getAttribute('class'), 'b', 'a whole good day is a plain bar');
    assert.equal(await smtpBars.nth(89 - 20).getAttribute('class'), 'b u', 'before the history began: no data');
    const incidents = await page.locator('ol.incidents').innerText();
    assert.match(
      incidents,
      /Fabrikam scanner · SMTP — resolved\s+Sending with SMTP AUTH is turned off for the organisation\.\s+Sending with SMTP AUTH is turned off or blocked by a policy: the problem is that setting, not the mailbox\.\s+Started [^,]+, lasted 3 h/,
    );
    assert.match(
      incidents,
      /Contoso helpdesk · IMAP — resolved\s+The mail server did not answer in time\.\s+IMAP is refused while other ways into the same mailbox work: the problem is the IMAP path\.\s+Started [^,]+, lasted 2 h/,
    );
    assert.doesNotMatch(incidents, /seeded server text/);
    const sevenDays = await fabrikam.locator('.avail').nth(1).innerText();
    assert.match(sevenDays, /7 d\s+9\d(\.\d+)?%/);

    // A bar tells its day's availability on keyboard focus (and hover), without script.
    const today = page.locator('ol.bars').first().locator('li').last();
    await today.focus();
    const tip = await today.evaluate((bar) => (globalThis as unknown as PageWindow).getComputedStyle(bar, '::after').content);
    assert.match(tip, /^"\d{4}-\d{2}-\d{2}: (no data|[\d.]+% available.*)"$/);

    const violations = (await axeScan(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(violations, [], 'axe-core finds no serious or critical violation on /status');
    await page.close();
  });

  test('search and filters work without JavaScript', async () => {
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Emulation.setScriptExecutionDisabled', { value: true });
    await page.goto(`${base}/status`);
    await page.getByLabel('State').selectOption('failing');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/state=failing/);
    const headings = await page.locator('article h3').allInnerTexts();
    assert.ok(headings.includes('Fabrikam scanner'), headings.join(', '));
    assert.ok(!headings.some((name) => name.startsWith('Contoso')), 'healthy monitors are filtered out');
    await page.getByLabel('Search').fill('northwind');
    await page.getByLabel('State').selectOption('all');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/q=northwind/);
    assert.deepEqual(await page.locator('article h3').allInnerTexts(), ['Northwind orders']);
    await page.close();
  });

  test('with authentication on the listener, the public routes stay open and the detailed view is protected', async () => {
    for (const path of ['/status', '/status/status.css', '/status/feed.atom', '/status/summary.json', '/status/badge/fabrikam-scanner/state.svg']) {
      assert.equal((await fetch(`${base}${path}`)).status, 200, `${path} is public`);
    }
    for (const path of ['/status/detail', '/api/status', '/metrics']) {
      assert.equal((await fetch(`${base}${path}`)).status, 401, `${path} needs the operator`);
    }
    assert.equal((await fetch(`${base}/status/detail`, { headers: OPERATOR_HEADER })).status, 200, 'the operator gets in');
  });

  test('the detailed view adds the fix; axe-core finds nothing serious; screenshots of both views', async () => {
    const page = await context.newPage();
    await page.setExtraHTTPHeaders(OPERATOR_HEADER);
    assert.equal((await page.goto(`${base}/status/detail`))?.status(), 200);
    const fabrikam = page.locator('article', { has: page.getByRole('heading', { name: 'Fabrikam scanner' }) });
    const text = await fabrikam.innerText();
    const clientId = env.tenants.find((tenant) => tenant.key === 'fabrikam')?.clientId ?? '';
    assert.match(text, /Diagnosis and fix/);
    assert.match(text, /has expired/);
    assert.ok(text.includes(clientId), 'the detail view names the app');
    assert.ok((await fabrikam.locator('ol.fixes li').count()) > 0, 'the fix is listed');
    assert.match(text, /scanner@fabrikam\.onmicrosoft\.com/);

    const violations = (await axeScan(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(violations, [], 'axe-core finds no serious or critical violation on /status/detail');

    // Dark scheme too: contrast is checked per scheme.
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${base}/status`);
    const dark = (await axeScan(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(dark, [], 'axe-core finds no serious or critical violation in the dark scheme');

    await screenshots(page, `${base}/status?refresh=0`, 'public');
    await screenshots(page, `${base}/status/detail?refresh=0`, 'detail');
    await page.close();
  });

  test("the README's two pictures: the public page, and one failing check as an operator sees it", async () => {
    // npm run screenshots copies them to docs/images/, where the README shows them.
    const page = await context.newPage();
    await page.setExtraHTTPHeaders(OPERATOR_HEADER);
    await page.setViewportSize({ width: 1100, height: 640 });
    await page.emulateMedia({ colorScheme: 'light' });
    await page.goto(`${base}/status?refresh=0`);
    await page.screenshot({ path: join(ARTIFACTS, 'readme-status.png') });
    await page.goto(`${base}/status/detail?refresh=0`);
    const failing = page.locator('article', { has: page.getByRole('heading', { name: 'Fabrikam scanner' }) });
    assert.match(await failing.innerText(), /Diagnosis and fix/);
    // Its first check only: the second repeats it.
    const box = await failing.boundingBox();
    assert.ok(box);
    await page.screenshot({
      path: join(ARTIFACTS, 'readme-check-failure.png'),
      fullPage: true,
      clip: { x: box.x, y: box.y, width: box.width, height: Math.min(box.height, 720) },
    });
    await page.close();
  });
});
