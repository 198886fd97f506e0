import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { monitorRef } from '../../src/diagnose/commands.js';
import { diagnose } from '../../src/diagnose/diagnose.js';
import type { LoadedConfig } from '../../src/config/types.js';
import type { IncidentSummary } from '../../src/history/reader.js';
import { escapeText } from '../../src/http/status/html.js';
import { monitorRows, type StatusSource } from '../../src/http/status/model.js';
import { statusRoute } from '../../src/http/status/routes.js';
import { jobsOf } from '../../src/runner/scheduler.js';
import { StatusBoard } from '../../src/runner/status.js';
import { MemoryHistory } from '../support/memory-history.js';
import type { CheckResult } from '../../src/core/result.js';
import type { ResultEvent } from '../../src/core/state.js';
import { attributing } from '../support/fold.js';

// A fixed instant: nothing here may depend on the calendar (the unit tests run under faketime too).
const NOW = Date.parse('2031-05-14T12:00:00Z');
const TENANT_ID = '7d1c3e0a-5b2f-4c8e-9a61-2f0b8d4c6e11';
const CLIENT_ID = '10e1f456-3921-4abc-8def-105af0774c61';
const HOSTILE = '<script>alert(1)</script> 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "x" & \'y\'';

function config(extra: Record<string, unknown> = {}, monitors?: unknown[]): LoadedConfig {
  return parseConfig(
    JSON.stringify({
      tenants: { contoso: { tenantId: TENANT_ID, clientId: CLIENT_ID, credential: { type: 'secret', secret: 'x' } } },
      monitors: monitors ?? [
        { name: 'helpdesk', displayName: 'Helpdesk mail', group: 'Contoso', tenant: 'contoso', mailbox: 'helpdesk@contoso.example', checks: ['imap', 'smtp'] },
        { name: 'scanner', tenant: 'contoso', mailbox: 'scanner@contoso.example', checks: ['imap'] },
        { name: 'secret-ops', displayName: 'Ops only', public: false, tenant: 'contoso', mailbox: 'ops@contoso.example', checks: ['imap'] },
      ],
      ...extra,
    }),
    '/tmp/monitors.json',
  );
}

interface Fixture {
  source: StatusSource;
  board: StatusBoard;
  /** Folds results as the agent does before they reach the board. */
  fold: (result: CheckResult) => ResultEvent;
  history: MemoryHistory;
}

function fixture(loaded = config(), options: { history?: boolean; incidents?: IncidentSummary[] } = {}): Fixture {
  const board = new StatusBoard();
  const fold = attributing();
  const jobs = jobsOf(loaded.monitors);
  board.expect(jobs);
  for (const job of jobs) {
    const failing = job.monitor.name === 'helpdesk' && job.check === 'smtp';
    const startedAt = NOW - (failing ? 5 : 60) * 60_000;
    board.update(
      fold({
        monitor: job.monitor.name,
        tenant: job.monitor.tenant.key,
        mailbox: job.monitor.mailbox,
        check: job.check,
        startedAt,
        durationSeconds: 0.4,
        outcome: failing
          ? {
              ok: false,
              steps: [],
              measured: {},
              facts: {},
              failure: { stage: 'auth', reason: 'smtp_auth_disabled_tenant', message: 'AUTH rejected', serverText: HOSTILE },
            }
          : { ok: true, steps: [], measured: {}, facts: {} },
        // The diagnosis the runner makes, so the page shows what an agent would.
        ...(failing
          ? {
              reason: 'smtp_auth_disabled_tenant' as const,
              diagnosis: diagnose({
                reason: 'smtp_auth_disabled_tenant',
                stage: 'auth',
                protocol: 'smtp',
                serverText: HOSTILE,
                monitor: monitorRef(job.monitor),
                now: NOW,
              }),
            }
          : {}),
      }),
    );
  }
  const history = new MemoryHistory(
    (_check, ago) =>
      ago === 3
        ? { okSeconds: 80_000, failSeconds: 6_400 }
        : ago === 10
          ? { maintenanceSeconds: 3600, okSeconds: 82_800 }
          : ago > 60
            ? {}
            : { okSeconds: 86_400 },
    options.incidents ?? [],
  );
  const source: StatusSource = {
    settings: () => loaded.statusPage,
    monitors: () => loaded.monitors,
    checks: () => board.list(),
    now: () => NOW,
    ...(options.history === false ? {} : { history }),
  };
  return { source, board, fold, history };
}

async function get(
  source: StatusSource,
  pathAndQuery: string,
): Promise<{ status: number; type: string; body: string; headers: Record<string, string>; access: string }> {
  const [path = '', query = ''] = pathAndQuery.split('?');
  const route = statusRoute(source, path);
  assert.ok(route, `a route for ${path}`);
  const reply = await route.handle(new URLSearchParams(query));
  return { ...reply, headers: reply.headers ?? {}, access: route.access };
}

const PRIVATE = [
  TENANT_ID,
  CLIENT_ID,
  'helpdesk@contoso.example',
  'scanner@contoso.example',
  'ops@contoso.example',
  '535 5.7.139',
  'SmtpClientAuthentication',
  'Set-TransportConfig',
];

function assertNothingPrivate(text: string, where: string): void {
  for (const secret of PRIVATE) assert.ok(!text.includes(secret) && !text.includes(escapeText(secret)), `${where} must not contain ${secret}`);
  assert.ok(!/Ops only|secret-ops/.test(text), `${where} must not show the non-public monitor`);
}

describe('the public status page', () => {
  test('shows each check, the failing one in plain words, 90 bars per check and availability', async () => {
    const { source } = fixture();
    const page = await get(source, '/status');
    assert.equal(page.status, 200);
    assert.equal(page.access, 'public');
    assert.match(page.type, /text\/html/);
    assert.match(page.body, /<h3 id="h-helpdesk">Helpdesk mail<\/h3>/);
    assert.match(page.body, /<h3 id="h-scanner">scanner<\/h3>/, 'without displayName the monitor name is shown');
    assert.match(page.body, /Sending with SMTP AUTH is turned off for the organisation\./);
    // the monitor's cause, weighed over its checks, in plain words and without its code
    assert.match(
      page.body,
      /<p class="cause fail">Sending with SMTP AUTH is turned off or blocked by a policy: the problem is that setting, not the mailbox\.<\/p>/,
    );
    assert.doesNotMatch(page.body, /cause smtp_auth_gate/);
    assert.match(page.body, /1 of 3 checks failing/);
    assert.match(page.body, /for 5 min · since <time datetime="2031-05-14T11:55:00.000Z">11:55 UTC<\/time>/);
    const bars = [...page.body.matchAll(/<ol class="bars"[^>]*>(.*?)<\/ol>/g)].map((match) => (match[1] ?? '').match(/<li /g)?.length);
    assert.deepEqual(bars, [90, 90, 90]);
    assert.match(page.body, /<li class="b f" tabindex="0" aria-label="2031-05-11: 92\.59% available, failing 1 h 46 min"><\/li>/);
    assert.match(page.body, /<li class="b m" tabindex="0" aria-label="2031-05-04: 100% available, maintenance 1 h"><\/li>/);
    assert.match(page.body, /<li class="b u" tabindex="0" aria-label="2031-03-14: no data"><\/li>/);
    assert.match(page.body, /<dt>7 d<\/dt><dd>98\.94%<\/dd>/);
    assert.equal(page.headers.Refresh, '60');
    assertNothingPrivate(page.body, 'the public page');
  });

  test('groups by the configured group, else by tenant key', async () => {
    const { source } = fixture();
    const body = (await get(source, '/status')).body;
    const headings = [...body.matchAll(/<h2 id="g-\d+"><span>([^<]*)<\/span>/g)].map((match) => match[1]);
    assert.deepEqual(headings, ['Contoso', 'contoso']);
  });

  test('filters, searches and pages through query strings', async () => {
    const monitors = Array.from({ length: 7 }, (_, i) => ({
      name: `m${i}`,
      displayName: `Mailbox ${i}`,
      group: i < 4 ? 'A' : 'B',
      tenant: 'contoso',
      mailbox: `m${i}@contoso.example`,
      checks: ['imap'],
    }));
    const { source } = fixture(config({ statusPage: { pageSize: 3 } }, monitors));
    const first = (await get(source, '/status')).body;
    assert.match(first, /page 1 of 3/);
    assert.match(first, /<a href="\/status\?page=2" rel="next">/);
    assert.equal(first.match(/<article /g)?.length, 3);
    const third = (await get(source, '/status?page=3')).body;
    assert.equal(third.match(/<article /g)?.length, 1);
    assert.match(third, /Mailbox 6/);
    const searched = (await get(source, '/status?q=mailbox+5&refresh=0')).body;
    assert.equal(searched.match(/<article /g)?.length, 1);
    assert.match(searched, /1 of 7 monitors match/);
    assert.match(searched, /<input type="hidden" name="refresh" value="0">/, 'a stopped reload stays stopped across searches');
    const grouped = (await get(source, '/status?group=B')).body;
    assert.equal(grouped.match(/<article /g)?.length, 3);
    const failing = (await get(source, '/status?state=failing')).body;
    assert.match(failing, /No monitor matches these filters/);
    const beyond = (await get(source, '/status?page=99')).body;
    assert.match(beyond, /page 3 of 3/, 'a page past the end shows the last one');
  });

  test('asks the store only for the rendered page’s checks', async () => {
    const monitors = Array.from({ length: 30 }, (_, i) => ({ name: `m${i}`, tenant: 'contoso', mailbox: `m${i}@contoso.example`, checks: ['imap', 'smtp'] }));
    const { source, history } = fixture(config({ statusPage: { pageSize: 10 } }, monitors));
    await get(source, '/status?page=2');
    assert.deepEqual(history.queries, [{ checks: 20 }]);
  });

  test('the public search does not find monitors by mailbox or IDs', async () => {
    const { source } = fixture();
    for (const needle of ['helpdesk@contoso', TENANT_ID.slice(0, 8), CLIENT_ID.slice(0, 8)]) {
      assert.match((await get(source, `/status?q=${encodeURIComponent(needle)}`)).body, /No monitor matches/);
    }
    assert.match((await get(source, `/status/detail?q=helpdesk%40contoso`)).body, /Helpdesk mail/);
  });

  test('escapes hostile query strings', async () => {
    const { source } = fixture();
    const body = (await get(source, `/status?q=${encodeURIComponent('"><script>x</script>')}`)).body;
    assert.ok(!body.includes('<script>x'), 'the search text is escaped');
    assert.match(body, /value="&quot;&gt;&lt;script&gt;x&lt;\/script&gt;"/);
  });

  test('lists recent incidents with duration and cause, public monitors only', async () => {
    const incidents: IncidentSummary[] = [
      {
        monitor: 'helpdesk',
        tenant: 'contoso',
        check: 'imap',
        startedAt: NOW - 3 * 86_400_000,
        endedAt: NOW - 3 * 86_400_000 + 47 * 60_000,
        reason: 'token_secret_expired',
        stage: 'token',
        serverText: `AADSTS7000222 ${HOSTILE}`,
      },
      { monitor: 'secret-ops', tenant: 'contoso', check: 'imap', startedAt: NOW - 86_400_000, reason: 'timeout', stage: 'connect' },
    ];
    const { source } = fixture(config(), { incidents });
    const body = (await get(source, '/status')).body;
    assert.match(body, /Helpdesk mail · IMAP<\/strong> — resolved<\/p><p>Microsoft 365 refused the sign-in: the app’s secret has expired\.<\/p>/);
    assert.match(body, /lasted 47 min/);
    assert.ok(!body.includes('AADSTS'));
    assertNothingPrivate(body, 'the incident list');
  });

  test('works without a history store: 90 empty days and the open incidents from the board', async () => {
    const { source } = fixture(config(), { history: false });
    const body = (await get(source, '/status')).body;
    assert.equal(body.match(/<li class="b u"/g)?.length, 270);
    assert.match(body, /Helpdesk mail · SMTP<\/strong> — ongoing/);
  });

  test('a history store that cannot be read leaves the page up with live states and says so', async () => {
    const { source } = fixture();
    const broken: StatusSource = {
      ...source,
      history: {
        checkSummaries: () => Promise.reject(new Error('SQLITE_CANTOPEN')),
        incidents: () => Promise.reject(new Error('SQLITE_CANTOPEN')),
      },
    };
    const page = await get(broken, '/status');
    assert.equal(page.status, 200);
    assert.match(page.body, /The history cannot be read right now/);
    assert.match(page.body, /Sending with SMTP AUTH is turned off for the organisation\./);
    assert.match(page.body, /Helpdesk mail · SMTP<\/strong> — ongoing/, 'open incidents come from the board');
    assert.match((await get(broken, '/status/badge/helpdesk/imap/uptime-7d.svg')).body, /uptime 7d: no data/);
    assert.match((await get(broken, '/status/feed.atom')).body, /<entry>/);
    assert.doesNotMatch((await get(source, '/status')).body, /cannot be read/);
  });

  test('statusPage settings hide reasons and incidents, and can put the whole page behind authentication', async () => {
    const { source } = fixture(config({ statusPage: { reasons: false, incidents: false, title: 'Post & <Mail>' } }));
    const page = await get(source, '/status');
    assert.ok(!page.body.includes('SMTP AUTH is turned off'));
    assert.ok(!page.body.includes('Recent incidents'));
    assert.match(page.body, /<h1>Post &amp; &lt;Mail&gt;<\/h1>/);
    const closed = fixture(config({ statusPage: { public: false } })).source;
    for (const path of ['/status', '/status/feed.atom', '/status/summary.json', '/status/badge/helpdesk/state.svg']) {
      assert.equal(statusRoute(closed, path)?.access, 'protected', path);
    }
    assert.equal(statusRoute(closed, '/status/status.css')?.access, 'public');
  });
});

describe('the rows of a board that changes between requests', () => {
  test('only the rows whose entries changed are rebuilt, and the page is what a fresh build shows', async () => {
    const { source, board, fold } = fixture();
    const before = monitorRows(source, 'public');
    assert.equal(monitorRows(source, 'public'), before, 'nothing changed: the same rows');
    assert.match((await get(source, '/status')).body, /1 of 3 checks failing/);
    board.update(
      fold({
        monitor: 'scanner',
        tenant: 'contoso',
        mailbox: 'scanner@contoso.example',
        check: 'imap',
        startedAt: NOW - 60_000,
        durationSeconds: 0.4,
        outcome: { ok: false, steps: [], measured: {}, facts: {}, failure: { stage: 'auth', reason: 'auth_failed', message: 'LOGIN failed' } },
      }),
    );
    const after = monitorRows(source, 'public');
    assert.notEqual(after, before);
    assert.equal(after[0], before[0], 'the unchanged monitor keeps its row');
    assert.equal(after[1]?.state, 'fail');
    assert.equal(before[1]?.state, 'ok', 'rows already handed out are not changed');
    const page = (await get(source, '/status')).body;
    assert.match(page, /2 of 3 checks failing/);
    // The same board read as a new array each time: every row built afresh.
    const fresh = { ...source, checks: () => [...board.list()] };
    assert.equal(page, (await get(fresh, '/status')).body);
    assert.equal((await get(source, '/status/summary.json')).body, (await get(fresh, '/status/summary.json')).body);
  });

  test('a check added or removed builds the rows anew', async () => {
    const loaded = config();
    const { source, board } = fixture(loaded);
    assert.deepEqual(
      monitorRows(source, 'public').map((row) => row.checks.length),
      [2, 1],
    );
    const scanner = loaded.monitors.find((monitor) => monitor.name === 'scanner');
    assert.ok(scanner);
    board.expect(jobsOf([{ ...scanner, checks: ['imap', 'smtp'] }]));
    assert.deepEqual(
      monitorRows(source, 'public').map((row) => row.checks.length),
      [2, 2],
    );
    board.remove('helpdesk\u0000smtp');
    assert.deepEqual(
      monitorRows(source, 'public').map((row) => row.checks.map((check) => check.check)),
      [['imap'], ['imap', 'smtp']],
    );
  });
});

describe('the detailed status page', () => {
  test('is always in the protected class and adds identities, the server’s words and the fix, escaped', async () => {
    const { source } = fixture();
    const page = await get(source, '/status/detail');
    assert.equal(page.access, 'protected');
    assert.match(page.body, /helpdesk@contoso\.example/);
    assert.match(page.body, new RegExp(`App \\(client\\) ID</dt><dd>${CLIENT_ID}`));
    assert.match(page.body, /<code>Set-TransportConfig -SmtpClientAuthenticationDisabled \$false<\/code>/);
    assert.match(page.body, /<pre>&lt;script&gt;alert\(1\)&lt;\/script&gt; 535 5\.7\.139 .*&quot;x&quot; &amp; &#39;y&#39;<\/pre>/);
    assert.ok(!page.body.includes('<script>'), 'server text never becomes markup');
    assert.equal(page.body.split('535 5.7.139').length - 1, 1, "the server's words once, not again inside the summary");
    assert.match(page.body, /Ops only/, 'non-public monitors are in the detailed view');
    assert.match(page.body, /<p class="cause fail">Sending with SMTP AUTH .*<code>cause smtp_auth_gate<\/code><\/p>/);
  });

  test('a delegated monitor shows its sign-in: renewed when, lapsing when and why, never a token; the public page says nothing of it', async () => {
    const REFRESH_TOKEN = '1.d4c3b2a1-0000-4000-8000-000000000000.SignInRefreshTokenNeverShown';
    const loaded = config(
      {
        tenants: {
          contoso: { tenantId: TENANT_ID, clientId: CLIENT_ID, credential: { type: 'secret', secret: 'x' } },
          people: { tenantId: TENANT_ID, clientId: CLIENT_ID, credential: { type: 'delegated', account: 'probe@contoso.example' } },
          lapsed: { tenantId: TENANT_ID, clientId: CLIENT_ID, credential: { type: 'delegated', account: 'old@contoso.example' } },
          nobody: { tenantId: TENANT_ID, clientId: CLIENT_ID, credential: { type: 'delegated', account: 'new@contoso.example' } },
        },
      },
      [
        { name: 'helpdesk', tenant: 'contoso', mailbox: 'helpdesk@contoso.example', checks: ['imap'] },
        { name: 'user-probe', tenant: 'people', mailbox: 'probe@contoso.example', checks: ['imap'] },
        { name: 'old-probe', tenant: 'lapsed', mailbox: 'old@contoso.example', checks: ['imap'] },
        { name: 'new-probe', tenant: 'nobody', mailbox: 'new@contoso.example', checks: ['imap'] },
      ],
    );
    const { source } = fixture(loaded);
    const signIns = new Map([
      // As a careless caller might pass the cache entry itself: only the named fields are shown.
      [
        'people',
        {
          account: 'probe@contoso.example',
          signedInAt: NOW - 10 * 3600_000,
          refreshedAt: NOW - 600_000,
          lapsesAt: NOW + 2 * 3600_000,
          cause: 'sign_in_frequency' as const,
          refreshToken: REFRESH_TOKEN,
        },
      ],
      [
        'lapsed',
        {
          account: 'old@contoso.example',
          signedInAt: NOW - 100 * 86_400_000,
          refreshedAt: NOW - 91 * 86_400_000,
          lapsesAt: NOW - 86_400_000,
          cause: 'inactivity' as const,
        },
      ],
    ]);
    const withSignIns: StatusSource = { ...source, signIn: (tenant) => signIns.get(tenant) };
    const page = await get(withSignIns, '/status/detail');
    const line = (monitor: string): string =>
      /<p class="meta signin">(.*?)<\/p>/.exec((page.body.split(`id="m-${monitor}"`)[1] ?? '').split('</article>')[0] ?? '')?.[1] ?? '';
    assert.equal(
      line('user-probe'),
      'Delegated sign-in of probe@contoso.example: signed in <time datetime="2031-05-14T02:00:00.000Z">2031-05-14 02:00 UTC</time>, last renewed <time datetime="2031-05-14T11:50:00.000Z">2031-05-14 11:50 UTC</time>, lapses <time datetime="2031-05-14T14:00:00.000Z">2031-05-14 14:00 UTC</time> (in 2 h, sign-in frequency) unless renewed',
    );
    assert.match(
      line('old-probe'),
      /<strong>lapsed<\/strong> <time datetime="2031-05-13T12:00:00\.000Z">2031-05-13 12:00 UTC<\/time> \(90 days unused\): <code>mailprobe login --monitor old-probe<\/code>$/,
    );
    assert.equal(line('new-probe'), 'Delegated sign-in of new@contoso.example: none on record, <code>mailprobe login --monitor new-probe</code>');
    assert.equal(line('helpdesk'), '', 'a monitor that signs in as the app has no sign-in line');
    assert.ok(!page.body.includes(REFRESH_TOKEN) && !page.body.includes('SignInRefreshTokenNeverShown'), 'no token in the page');
    const publicPage = await get(withSignIns, '/status');
    assert.doesNotMatch(publicPage.body, /sign-in|signin|probe@contoso/);
  });
});

describe('feeds and badges', () => {
  test('summary.json follows Statuspage’s shape and states', async () => {
    // With a store, the open incidents are the store's: the resolved and the hidden monitor's are not listed.
    const stored: IncidentSummary[] = [
      { monitor: 'helpdesk', tenant: 'contoso', check: 'smtp', startedAt: NOW - 5 * 60_000, reason: 'smtp_auth_disabled_tenant', stage: 'auth' },
      { monitor: 'scanner', tenant: 'contoso', check: 'imap', startedAt: NOW - 3 * 3600_000, endedAt: NOW - 2 * 3600_000, reason: 'timeout', stage: 'connect' },
      { monitor: 'secret-ops', tenant: 'contoso', check: 'imap', startedAt: NOW - 60_000, reason: 'auth_failed', stage: 'auth' },
    ];
    const { source } = fixture(config(), { incidents: stored });
    const reply = await get(source, '/status/summary.json');
    const summary = JSON.parse(reply.body) as {
      page: { name: string; time_zone: string };
      status: { indicator: string; description: string };
      components: Array<{ id: string; name: string; status: string; group: boolean; group_id: string | null; components?: string[] }>;
      incidents: Array<{ name: string; status: string; incident_updates: Array<{ body: string }> }>;
      scheduled_maintenances: unknown[];
    };
    assert.equal(summary.page.name, 'Mail status');
    const byName = new Map(summary.components.map((component) => [component.name, component]));
    // One failed run so far: not confirmed yet, so degraded rather than an outage.
    assert.equal(byName.get('Helpdesk mail')?.status, 'degraded_performance');
    assert.equal(byName.get('scanner')?.status, 'operational');
    assert.equal(byName.get('Contoso')?.group, true);
    assert.deepEqual(byName.get('Contoso')?.components, [byName.get('Helpdesk mail')?.id]);
    assert.equal(byName.get('Helpdesk mail')?.group_id, byName.get('Contoso')?.id);
    assert.deepEqual(summary.status, { indicator: 'minor', description: 'Minor Service Outage' });
    assert.equal(summary.incidents.length, 1);
    assert.equal(summary.incidents[0]?.incident_updates[0]?.body, 'Sending with SMTP AUTH is turned off for the organisation.');
    assert.deepEqual(summary.scheduled_maintenances, []);
    assertNothingPrivate(reply.body, 'summary.json');
  });

  test('summary.json lists the store’s open incidents when history is on, the board’s when it is off', async () => {
    const incidents = async (source: StatusSource): Promise<string[]> =>
      (JSON.parse((await get(source, '/status/summary.json')).body) as { incidents: Array<{ name: string }> }).incidents.map((incident) => incident.name);
    assert.deepEqual(await incidents(fixture(config(), { history: false }).source), ['Helpdesk mail · SMTP failing'], 'the board: helpdesk’s SMTP fails');
    assert.deepEqual(await incidents(fixture(config(), { incidents: [] }).source), [], 'the store has not written it yet, so it is not listed');
    const stored = { monitor: 'scanner', tenant: 'contoso', check: 'imap' as const, startedAt: NOW - 60_000, reason: 'timeout', stage: 'connect' };
    assert.deepEqual(
      await incidents(fixture(config(), { incidents: [stored] }).source),
      ['scanner · IMAP failing'],
      'the store’s, though the board has scanner passing',
    );
  });

  test('a confirmed failure of every check is a major outage', async () => {
    const loaded = config({}, [{ name: 'solo', tenant: 'contoso', mailbox: 'solo@contoso.example', checks: ['imap'] }]);
    const { source, board, fold } = fixture(loaded);
    for (let i = 0; i < 2; i++) {
      board.update(
        fold({
          monitor: 'solo',
          tenant: 'contoso',
          mailbox: 'solo@contoso.example',
          check: 'imap',
          startedAt: NOW,
          durationSeconds: 1,
          reason: 'timeout',
          outcome: { ok: false, steps: [], measured: {}, facts: {}, failure: { stage: 'connect', reason: 'timeout', message: 't' } },
        }),
      );
    }
    const summary = JSON.parse((await get(source, '/status/summary.json')).body) as {
      status: { indicator: string };
      components: Array<{ name: string; status: string }>;
    };
    assert.equal(summary.components.find((component) => component.name === 'solo')?.status, 'major_outage');
    assert.equal(summary.status.indicator, 'critical');
  });

  test('the Atom feed lists incidents with stable ids and no private data', async () => {
    const incidents: IncidentSummary[] = [
      {
        monitor: 'helpdesk',
        tenant: 'contoso',
        check: 'smtp',
        startedAt: NOW - 600_000,
        reason: 'smtp_auth_disabled_tenant',
        stage: 'auth',
        serverText: HOSTILE,
      },
      { monitor: 'scanner', tenant: 'contoso', check: 'imap', startedAt: NOW - 7_200_000, endedAt: NOW - 3_600_000, reason: 'timeout', stage: 'connect' },
    ];
    const { source } = fixture(config(), { incidents });
    const reply = await get(source, '/status/feed.atom');
    assert.match(reply.type, /application\/atom\+xml/);
    assert.match(reply.body, /^<\?xml version="1\.0" encoding="utf-8"\?>\n<feed xmlns="http:\/\/www\.w3\.org\/2005\/Atom">/);
    const entries = reply.body.match(/<entry>/g)?.length;
    assert.equal(entries, 2);
    assert.match(
      reply.body,
      /<id>urn:mailprobe:incident:helpdesk:smtp:\d+<\/id>\n<title>Helpdesk mail · SMTP: ongoing — Sending with SMTP AUTH is turned off for the organisation\.<\/title>/,
    );
    assert.match(reply.body, /<title>scanner · IMAP: resolved — The mail server did not answer in time\.<\/title>/);
    assert.match(reply.body, /lasted 1 h, until 2031-05-14 11:00 UTC/);
    assert.match(reply.body, /<updated>2031-05-14T11:50:00\.000Z<\/updated>\n<author>/, 'the feed is as new as its newest change');
    assertNothingPrivate(reply.body, 'the Atom feed');
  });

  test('badges show state and uptime per window, and nothing for hidden or unknown monitors', async () => {
    const { source } = fixture();
    const state = await get(source, '/status/badge/helpdesk/smtp/state.svg');
    assert.equal(state.status, 200);
    assert.match(state.type, /image\/svg\+xml/);
    assert.match(state.body, /aria-label="Helpdesk mail SMTP: down"/);
    assert.match(state.body, /fill="#c62828"/);
    assert.match((await get(source, '/status/badge/scanner/state.svg')).body, /aria-label="scanner: up"/);
    const uptime = await get(source, '/status/badge/helpdesk/imap/uptime-7d.svg');
    assert.match(uptime.body, /aria-label="Helpdesk mail IMAP uptime 7d: 98\.94%"/);
    assert.match(uptime.body, /fill="#c62828"/, 'below 99% is red');
    assert.match((await get(source, '/status/badge/helpdesk/imap/uptime-24h.svg')).body, /IMAP uptime 24h: 100\.00%"/);
    for (const path of [
      '/status/badge/secret-ops/state.svg',
      '/status/badge/nobody/state.svg',
      '/status/badge/helpdesk/pop3/state.svg',
      '/status/badge/helpdesk/ftp/state.svg',
    ]) {
      assert.equal((await get(source, path)).status, 404, path);
    }
    assert.equal(statusRoute(source, '/status/badge/helpdesk/imap/uptime-1y.svg'), undefined);
  });
});
