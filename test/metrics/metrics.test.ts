import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MailprobeMetrics } from '../../src/metrics/metrics.js';
import { failure, identity, sampleMetrics, series, success } from '../support/metrics-sample.js';
import { folding } from '../support/fold.js';

describe('MailprobeMetrics', () => {
  test('the exposition has HELP on every family and escaped label values', async () => {
    const metrics = sampleMetrics();
    await metrics.metrics();
    const text = await metrics.metrics();
    assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);

    for (const name of [
      'mailprobe_check_success',
      'mailprobe_check_last_duration_seconds',
      'mailprobe_check_duration_seconds',
      'mailprobe_step_duration_seconds',
      'mailprobe_checks_total',
      'mailprobe_check_failures_total',
      'mailprobe_check_failure_reason',
      'mailprobe_check_consecutive_failures',
      'mailprobe_check_last_success_timestamp_seconds',
      'mailprobe_check_last_run_timestamp_seconds',
      'mailprobe_monitor_info',
      'mailprobe_monitor_interval_seconds',
      'mailprobe_monitor_cause',
      'mailprobe_token_requests_total',
      'mailprobe_token_expiry_timestamp_seconds',
      'mailprobe_token_role',
      'mailprobe_credential_expiry_timestamp_seconds',
      'mailprobe_checks_skipped_total',
      'mailprobe_delivery_latency_seconds',
      'mailprobe_check_last_delivery_seconds',
      'mailprobe_build_info',
      'mailprobe_config_last_reload_success',
      'mailprobe_config_last_reload_success_timestamp_seconds',
      'mailprobe_exposition_bytes',
      'mailprobe_exposition_samples',
      'mailprobe_exposition_render_seconds',
    ]) {
      assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'), `${name} has no HELP`);
    }
    assert.match(text, /^process_cpu_user_seconds_total /m, 'default process metrics missing');
    assert.deepEqual(series(text, 'mailprobe_build_info'), ['mailprobe_build_info{version="0.1.0"} 1']);
    assert.deepEqual(
      series(text, 'mailprobe_monitor_info'),
      [
        'mailprobe_monitor_info{monitor="m1",tenant="contoso.onmicrosoft.com",mailbox="m1@contoso.com"} 1',
        'mailprobe_monitor_info{monitor="odd \\"name\\" \\\\ with\\nnewline",tenant="contoso.onmicrosoft.com",mailbox="odd \\"name\\" \\\\ with\\nnewline@contoso.com"} 1',
      ],
      'one info series per monitor, label values escaped',
    );
    assert.deepEqual(series(text, 'mailprobe_monitor_interval_seconds'), [
      'mailprobe_monitor_interval_seconds{monitor="m1"} 300',
      'mailprobe_monitor_interval_seconds{monitor="odd \\"name\\" \\\\ with\\nnewline"} 60',
    ]);
    // Per-check series carry the identity only.
    for (const line of text
      .split('\n')
      .filter((l) => /^mailprobe_check(s)?_/.test(l) && !l.startsWith('mailprobe_check_failures_total') && !l.startsWith('mailprobe_check_duration_seconds'))) {
      assert.doesNotMatch(line, /tenant=|mailbox=/, line);
      assert.match(line, /^\w+\{monitor="[^"]*(\\"[^"]*)*",check="\w+"/, line);
    }
    assert.deepEqual(
      series(text, 'mailprobe_check_failures_total'),
      ['mailprobe_check_failures_total{check="smtp",reason="smtp_auth_disabled_tenant",category="auth"} 1'],
      'failure counts by reason are fleet-wide',
    );
    assert.ok(
      series(text, 'mailprobe_checks_total').includes('mailprobe_checks_total{monitor="m1",check="imap",result="failure"} 0'),
      'the failure series of a passing check should exist at 0',
    );
    assert.ok(
      series(text, 'mailprobe_check_success').includes('mailprobe_check_success{monitor="odd \\"name\\" \\\\ with\\nnewline",check="pop3"} 1'),
      'label values must be escaped',
    );
    assert.deepEqual(series(text, 'mailprobe_check_last_run_timestamp_seconds').slice(0, 2), [
      'mailprobe_check_last_run_timestamp_seconds{monitor="m1",check="imap"} 1700000000.8',
      'mailprobe_check_last_run_timestamp_seconds{monitor="m1",check="smtp"} 1700000062',
    ]);
    assert.deepEqual(series(text, 'mailprobe_check_last_delivery_seconds'), ['mailprobe_check_last_delivery_seconds{monitor="m1",check="roundtrip"} 12.5']);
    assert.ok(series(text, 'mailprobe_check_duration_seconds_bucket').includes('mailprobe_check_duration_seconds_bucket{le="1",check="imap"} 1'));
    assert.ok(series(text, 'mailprobe_step_duration_seconds_count').includes('mailprobe_step_duration_seconds_count{check="imap",step="auth"} 1'));
    assert.deepEqual(series(text, 'mailprobe_delivery_latency_seconds_count'), ['mailprobe_delivery_latency_seconds_count 1']);
  });

  test('failure detail exists only while the check fails', async () => {
    const metrics = new MailprobeMetrics({ version: 't', collectDefault: false });
    const fold = folding();
    const id = identity('m1');
    const reasonSeries = async (): Promise<string[]> => series(await metrics.metrics(), 'mailprobe_check_failure_reason');

    metrics.recordCheck(fold(failure(id, 'token', 'token_secret_expired')), 60);
    assert.deepEqual(await reasonSeries(), [
      'mailprobe_check_failure_reason{monitor="m1",check="imap",stage="token",reason="token_secret_expired",category="token"} 1',
    ]);
    metrics.recordCheck(fold(failure(id, 'token', 'token_secret_expired')), 60);
    metrics.recordCheck(fold(failure(id, 'auth', 'auth_failed')), 60);
    assert.deepEqual(await reasonSeries(), ['mailprobe_check_failure_reason{monitor="m1",check="imap",stage="auth",reason="auth_failed",category="auth"} 1']);
    let text = await metrics.metrics();
    assert.deepEqual(series(text, 'mailprobe_check_consecutive_failures'), ['mailprobe_check_consecutive_failures{monitor="m1",check="imap"} 3']);
    assert.deepEqual(
      series(text, 'mailprobe_check_failures_total').map((l) => l.replace(/.*reason="([^"]+)".* /, '$1=')),
      ['token_secret_expired=2', 'auth_failed=1'],
    );

    metrics.recordCheck(fold(success(id, ['token', 'connect'])), 60);
    text = await metrics.metrics();
    assert.deepEqual(series(text, 'mailprobe_check_failure_reason'), []);
    assert.deepEqual(series(text, 'mailprobe_check_consecutive_failures'), []);
    assert.deepEqual(series(text, 'mailprobe_check_success'), ['mailprobe_check_success{monitor="m1",check="imap"} 1']);
    assert.deepEqual(series(text, 'mailprobe_check_last_duration_seconds'), ['mailprobe_check_last_duration_seconds{monitor="m1",check="imap"} 0.8']);
  });

  test('token roles: known roles drop to 0, unknown roles disappear', async () => {
    const metrics = new MailprobeMetrics({ version: 't', collectDefault: false });
    const roles = async (): Promise<string[]> =>
      series(await metrics.metrics(), 'mailprobe_token_role')
        .map((l) => l.replace(/.*role="([^"]+)"} /, '$1='))
        .sort();

    metrics.setToken('t1', 'c1', { expiresAt: 100, roles: ['IMAP.AccessAsApp', 'SMTP.SendAsApp', 'Mail.Read'] });
    assert.deepEqual(await roles(), ['IMAP.AccessAsApp=1', 'Mail.Read=1', 'SMTP.SendAsApp=1']);
    metrics.setToken('t1', 'c1', { expiresAt: 200, roles: ['IMAP.AccessAsApp'] });
    assert.deepEqual(await roles(), ['IMAP.AccessAsApp=1', 'SMTP.SendAsApp=0']);
    metrics.setToken('t1', 'c1', { expiresAt: 300, roles: ['IMAP.AccessAsApp', 'SMTP.SendAsApp'] });
    assert.deepEqual(await roles(), ['IMAP.AccessAsApp=1', 'SMTP.SendAsApp=1']);
    assert.deepEqual(series(await metrics.metrics(), 'mailprobe_token_expiry_timestamp_seconds'), [
      'mailprobe_token_expiry_timestamp_seconds{tenant="t1",client_id="c1"} 300',
    ]);

    metrics.forgetClient('t1', 'c1');
    assert.deepEqual(await roles(), []);
  });

  // The shipped sign-in alerts read these series by tenant, client_id and cause (the e2e test bed has no delegated
  // monitor, so this and promtool's tests in deploy/prometheus/tests/credentials.yml are where they are checked).
  test('a delegated sign-in is one refresh series and one lapse series, under its current cause', async () => {
    const metrics = new MailprobeMetrics({ version: 't', collectDefault: false });
    metrics.setSignIn('t1', 'c1', { refreshedAt: 1_000_000, lapsesAt: 8_000_000, cause: 'inactivity' });
    assert.deepEqual(series(await metrics.metrics(), 'mailprobe_signin_refresh_timestamp_seconds'), [
      'mailprobe_signin_refresh_timestamp_seconds{tenant="t1",client_id="c1"} 1000',
    ]);
    assert.deepEqual(series(await metrics.metrics(), 'mailprobe_signin_lapse_timestamp_seconds'), [
      'mailprobe_signin_lapse_timestamp_seconds{tenant="t1",client_id="c1",cause="inactivity"} 8000',
    ]);
    metrics.setSignIn('t1', 'c1', { refreshedAt: 2_000_000, lapsesAt: 3_000_000, cause: 'sign_in_frequency' });
    assert.deepEqual(series(await metrics.metrics(), 'mailprobe_signin_lapse_timestamp_seconds'), [
      'mailprobe_signin_lapse_timestamp_seconds{tenant="t1",client_id="c1",cause="sign_in_frequency"} 3000',
    ]);
  });

  test('forgetMonitor removes the check, and the monitor info with its last check', async () => {
    const metrics = new MailprobeMetrics({ version: 't', collectDefault: false });
    const fold = folding();
    const goneRoundtrip = identity('gone', 'roundtrip');
    const goneImap = identity('gone', 'imap');
    const kept = identity('kept');
    metrics.recordCheck(fold(failure(goneRoundtrip, 'delivery', 'delivery_timeout')), 60);
    metrics.recordCheck(fold(success(goneImap)), 60);
    metrics.recordSkip(goneRoundtrip, 'overlap');
    metrics.recordDeliveryLatency(goneRoundtrip, 30);
    metrics.recordCheck(fold(success(kept)), 60);
    const perMonitor = (text: string): string[] => text.split('\n').filter((line) => /^mailprobe_(check|monitor)/.test(line) && line.includes('monitor='));

    metrics.forgetMonitor(goneRoundtrip);
    let text = await metrics.metrics();
    assert.deepEqual(
      perMonitor(text).filter((line) => line.includes('check="roundtrip"')),
      [],
    );
    assert.ok(
      series(text, 'mailprobe_monitor_info').some((line) => line.includes('monitor="gone"')),
      'the monitor still has its imap check',
    );

    metrics.forgetMonitor(goneImap);
    text = await metrics.metrics();
    assert.deepEqual(
      perMonitor(text).filter((line) => line.includes('"gone"')),
      [],
    );
    assert.ok(perMonitor(text).some((line) => line.includes('monitor="kept"')));
  });

  test("the monitor's cause is one series while it fails, replaced when the cause changes, gone when it passes", async () => {
    const metrics = new MailprobeMetrics({ version: 't', collectDefault: false, detail: 'basic' });
    const fold = folding();
    const imap = identity('m1');
    const smtp = identity('m1', 'smtp');
    metrics.recordCheck(fold(success(smtp)), 60);
    let text = await metrics.metrics();
    assert.deepEqual(series(text, 'mailprobe_monitor_cause'), []);
    metrics.recordCheck({ ...fold(failure(imap, 'auth', 'auth_failed')), cause: 'protocol:imap' }, 60);
    text = await metrics.metrics();
    assert.deepEqual(series(text, 'mailprobe_monitor_cause'), ['mailprobe_monitor_cause{monitor="m1",cause="protocol:imap"} 1']);
    // the sibling failing too turns the cause into mailbox; the passing sibling's event still carries it
    metrics.recordCheck({ ...fold(failure(smtp, 'auth', 'auth_failed')), cause: 'mailbox' }, 60);
    text = await metrics.metrics();
    assert.deepEqual(series(text, 'mailprobe_monitor_cause'), ['mailprobe_monitor_cause{monitor="m1",cause="mailbox"} 1']);
    metrics.recordCheck(fold(success(imap)), 60);
    metrics.recordCheck(fold(success(smtp)), 60);
    text = await metrics.metrics();
    assert.deepEqual(series(text, 'mailprobe_monitor_cause'), []);
  });

  test('a reload that moves a monitor to another mailbox replaces its info series', async () => {
    const metrics = new MailprobeMetrics({ version: 't', collectDefault: false });
    metrics.expectCheck(identity('m1'), 300);
    metrics.expectCheck({ ...identity('m1'), mailbox: 'other@contoso.com' }, 600);
    const text = await metrics.metrics();
    assert.deepEqual(series(text, 'mailprobe_monitor_info'), [
      'mailprobe_monitor_info{monitor="m1",tenant="contoso.onmicrosoft.com",mailbox="other@contoso.com"} 1',
    ]);
    assert.deepEqual(series(text, 'mailprobe_monitor_interval_seconds'), ['mailprobe_monitor_interval_seconds{monitor="m1"} 600']);
  });

  test('basic detail leaves out the families no shipped alert or recording rule reads', async () => {
    const metrics = new MailprobeMetrics({ version: 't', collectDefault: false, detail: 'basic' });
    const fold = folding();
    metrics.recordCheck(fold(success(identity('m1'))), 60);
    const text = await metrics.metrics();
    for (const name of ['mailprobe_check_last_duration_seconds', 'mailprobe_check_last_success_timestamp_seconds', 'mailprobe_step_duration_seconds']) {
      assert.doesNotMatch(text, new RegExp(`^# HELP ${name} `, 'm'), name);
    }
    for (const name of [
      'mailprobe_check_success',
      'mailprobe_checks_total',
      'mailprobe_check_last_run_timestamp_seconds',
      'mailprobe_monitor_info',
      'mailprobe_check_duration_seconds_count',
    ]) {
      assert.ok(series(text, name).length > 0, name);
    }
  });

  test('the exposition reports the size, sample count and render time of the previous scrape', async () => {
    const metrics = new MailprobeMetrics({ version: 't' });
    const fold = folding();
    metrics.recordCheck(fold(success(identity('m1'))), 60);
    const first = await metrics.metrics();
    assert.deepEqual(series(first, 'mailprobe_exposition_bytes'), [], 'no figures before a scrape happened');
    const second = await metrics.metrics();
    assert.deepEqual(series(second, 'mailprobe_exposition_bytes'), [`mailprobe_exposition_bytes ${Buffer.byteLength(first)}`]);
    const samplesOfFirst = first.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
    assert.deepEqual(series(second, 'mailprobe_exposition_samples'), [`mailprobe_exposition_samples ${samplesOfFirst}`]);
    const seconds = Number(series(second, 'mailprobe_exposition_render_seconds')[0]?.split(' ')[1]);
    assert.ok(seconds > 0 && seconds < 60, `render seconds ${seconds}`);
    const third = await metrics.metrics();
    const samplesOfSecond = second.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
    assert.deepEqual(series(third, 'mailprobe_exposition_samples'), [`mailprobe_exposition_samples ${samplesOfSecond}`]);
  });

  test('10,000 monitors × 2 checks: every series once, one family block each, at most 0.7 KB per check', async () => {
    const metrics = new MailprobeMetrics({ version: 't' });
    const fold = folding();
    for (let i = 0; i < 10_000; i++) {
      const name = `probe${String(i).padStart(5, '0')}`;
      const id = { monitor: name, tenant: 't00', mailbox: `${name}@t00.bench.onmicrosoft.com` };
      metrics.recordCheck(fold(success({ ...id, check: 'imap' })), 300);
      metrics.recordCheck(fold(failure({ ...id, check: 'smtp' }, 'auth', 'auth_failed')), 300);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of metrics.exposition()) chunks.push(chunk);
    const text = Buffer.concat(chunks).toString('utf8');
    assert.equal(series(text, 'mailprobe_check_success').length, 20_000);
    assert.equal(series(text, 'mailprobe_monitor_info').length, 10_000);
    assert.equal(series(text, 'mailprobe_check_failure_reason').length, 10_000);
    assert.equal(text.split('\n').filter((line) => line === '# TYPE mailprobe_check_success gauge').length, 1);
    assert.ok(chunks.length > 10, 'the scrape is produced in family-sized pieces');
    // A failing check carries two more lines than a passing one; half of these fail.
    const perCheck = Buffer.byteLength(text) / 20_000;
    assert.ok(perCheck <= 700, `${perCheck.toFixed(0)} bytes of exposition per check`);
  });
});

describe('what the metrics read from a result', () => {
  test('the cleanup outcome and the probe mail left come from the typed measurements, never from facts of the same name', async () => {
    const metrics = new MailprobeMetrics({ version: 't', collectDefault: false });
    const fold = folding();
    const id = identity('m1', 'roundtrip');
    const swept = success(id, ['token', 'send', 'delivery', 'cleanup']);
    metrics.recordCheck(fold({ ...swept, outcome: { ...swept.outcome, measured: { cleanup: 'deleted', probeMailLeft: 2 } } }), 60);
    const sweepFailed = success(identity('m2', 'smtp'), ['token', 'send', 'cleanup']);
    metrics.recordCheck(
      fold({ ...sweepFailed, outcome: { ...sweepFailed.outcome, measured: { cleanup: 'failed' }, facts: { sweep: 'failed: cleanup_failed' } } }),
      60,
    );
    const onlyFacts = success(identity('m3', 'roundtrip'));
    metrics.recordCheck(fold({ ...onlyFacts, outcome: { ...onlyFacts.outcome, facts: { cleanup: 'not_found', probeMailLeft: 7 } } }), 60);
    const text = await metrics.metrics();
    assert.deepEqual(series(text, 'mailprobe_probe_mail_cleanups_total'), [
      'mailprobe_probe_mail_cleanups_total{check="roundtrip",outcome="deleted"} 1',
      'mailprobe_probe_mail_cleanups_total{check="smtp",outcome="failed"} 1',
    ]);
    assert.deepEqual(series(text, 'mailprobe_probe_mail_backlog'), ['mailprobe_probe_mail_backlog{monitor="m1",check="roundtrip"} 2']);
  });
});
