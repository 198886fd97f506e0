import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import type { ReasonCode } from '../../src/diagnose/reasons.js';
import { MailprobeMetrics } from '../../src/metrics/metrics.js';
import type { CheckKind, Stage } from '../../src/probes/types.js';
import type { CheckIdentity, CheckResult } from '../../src/runner/result.js';

const T0 = 1_700_000_000_000;

function identity(monitor: string, check: CheckKind = 'imap'): CheckIdentity {
  return { monitor, tenant: 'contoso.onmicrosoft.com', mailbox: `${monitor}@contoso.com`, check };
}

function success(id: CheckIdentity, steps: Stage[] = ['token', 'connect', 'tls', 'auth', 'list', 'logout']): CheckResult {
  return {
    ...id,
    startedAt: T0,
    durationSeconds: 0.8,
    outcome: { ok: true, steps: steps.map((step) => ({ step, seconds: 0.1 })), facts: {} },
  };
}

function failure(id: CheckIdentity, stage: Stage, reason: ReasonCode): CheckResult {
  return {
    ...id,
    startedAt: T0 + 60_000,
    durationSeconds: 2,
    outcome: {
      ok: false,
      steps: [{ step: 'token', seconds: 0.2 }, { step: stage, seconds: 1.5 }],
      failure: { stage, reason, message: 'failed' },
      facts: {},
    },
    diagnosis: { reason, summary: 'failed', candidates: [], fixes: [] },
  };
}

/** The sample lines of one metric name (without HELP/TYPE), e.g. series(text, 'mailprobe_check_success'). */
function series(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

function promtool(input: string): { status: number | null; output: string } {
  const run = spawnSync('promtool', ['check', 'metrics'], { input, encoding: 'utf8', timeout: 20_000 });
  if (run.error) {
    assert.fail(`promtool could not be run (${run.error.message}); install the Debian package "prometheus" (CI does)`);
  }
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('MailprobeMetrics', () => {
  test('exposition passes promtool check metrics', async () => {
    const metrics = new MailprobeMetrics({ version: '0.1.0' });
    const imap = identity('m1');
    const smtp = identity('m1', 'smtp');
    metrics.recordCheck(success(imap), 300);
    metrics.recordCheck(failure(smtp, 'auth', 'smtp_auth_disabled_tenant'), 300);
    metrics.recordSkip(imap, 'overlap');
    metrics.recordSkip(smtp, 'backoff');
    metrics.recordDeliveryLatency(identity('m1', 'roundtrip'), 12.5);
    metrics.recordTokenRequest('contoso.onmicrosoft.com', 'client-1', 'success');
    metrics.recordTokenRequest('contoso.onmicrosoft.com', 'client-1', 'failure');
    metrics.setToken('contoso.onmicrosoft.com', 'client-1', { expiresAt: 1_700_003_600, roles: ['IMAP.AccessAsApp', 'SMTP.SendAsApp'] });
    metrics.setCredentialExpiry('contoso.onmicrosoft.com', 'client-1', 'client_secret', 1_730_000_000);
    metrics.setConfigReload(true, 1_700_000_000);
    metrics.recordCheck(success({ ...identity('odd "name" \\ with\nnewline'), check: 'pop3' }), 60);

    const text = await metrics.metrics();
    assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);
    const { status, output } = promtool(text);
    assert.equal(output, '', `promtool complained:\n${output}`);
    assert.equal(status, 0);

    for (const name of [
      'mailprobe_check_success', 'mailprobe_check_duration_seconds', 'mailprobe_check_step_duration_seconds',
      'mailprobe_checks_total', 'mailprobe_check_failures_total', 'mailprobe_check_failure_reason',
      'mailprobe_check_consecutive_failures', 'mailprobe_check_last_success_timestamp_seconds',
      'mailprobe_check_last_run_timestamp_seconds', 'mailprobe_check_interval_seconds', 'mailprobe_token_requests_total',
      'mailprobe_token_expiry_timestamp_seconds', 'mailprobe_token_role', 'mailprobe_credential_expiry_timestamp_seconds',
      'mailprobe_checks_skipped_total', 'mailprobe_delivery_latency_seconds', 'mailprobe_build_info',
      'mailprobe_config_last_reload_success', 'mailprobe_config_last_reload_success_timestamp_seconds',
    ]) {
      assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'), `${name} has no HELP`);
    }
    assert.match(text, /^process_cpu_user_seconds_total /m, 'default process metrics missing');
    assert.deepEqual(series(text, 'mailprobe_build_info'), ['mailprobe_build_info{version="0.1.0"} 1']);
    assert.ok(series(text, 'mailprobe_check_failures_total').includes(
      'mailprobe_check_failures_total{monitor="m1",tenant="contoso.onmicrosoft.com",mailbox="m1@contoso.com",check="smtp",reason="smtp_auth_disabled_tenant",category="auth"} 1',
    ));
    assert.ok(series(text, 'mailprobe_checks_total').includes(
      'mailprobe_checks_total{monitor="m1",tenant="contoso.onmicrosoft.com",mailbox="m1@contoso.com",check="imap",result="failure"} 0',
    ), 'the failure series of a passing check should exist at 0');
    assert.ok(series(text, 'mailprobe_check_success').includes(
      'mailprobe_check_success{monitor="odd \\"name\\" \\\\ with\\nnewline",tenant="contoso.onmicrosoft.com",mailbox="odd \\"name\\" \\\\ with\\nnewline@contoso.com",check="pop3"} 1',
    ), 'label values must be escaped');
    assert.deepEqual(series(text, 'mailprobe_check_last_run_timestamp_seconds').slice(0, 2), [
      'mailprobe_check_last_run_timestamp_seconds{monitor="m1",tenant="contoso.onmicrosoft.com",mailbox="m1@contoso.com",check="imap"} 1700000000.8',
      'mailprobe_check_last_run_timestamp_seconds{monitor="m1",tenant="contoso.onmicrosoft.com",mailbox="m1@contoso.com",check="smtp"} 1700000062',
    ]);
  });

  test('failure-reason gauge keeps one series per check across changes', async () => {
    const metrics = new MailprobeMetrics({ version: 't', collectDefault: false });
    const id = identity('m1');
    const reasonSeries = async (): Promise<string[]> => series(await metrics.metrics(), 'mailprobe_check_failure_reason');

    metrics.recordCheck(failure(id, 'token', 'token_secret_expired'), 60);
    assert.deepEqual(await reasonSeries(), [
      'mailprobe_check_failure_reason{monitor="m1",tenant="contoso.onmicrosoft.com",mailbox="m1@contoso.com",check="imap",stage="token",reason="token_secret_expired",category="token"} 1',
    ]);
    metrics.recordCheck(failure(id, 'token', 'token_secret_expired'), 60);
    metrics.recordCheck(failure(id, 'auth', 'auth_failed'), 60);
    assert.deepEqual(await reasonSeries(), [
      'mailprobe_check_failure_reason{monitor="m1",tenant="contoso.onmicrosoft.com",mailbox="m1@contoso.com",check="imap",stage="auth",reason="auth_failed",category="auth"} 1',
    ]);
    let text = await metrics.metrics();
    assert.deepEqual(series(text, 'mailprobe_check_consecutive_failures').map((l) => l.split(' ')[1]), ['3']);
    assert.deepEqual(series(text, 'mailprobe_check_failures_total').map((l) => l.replace(/.*reason="([^"]+)".* /, '$1=')), [
      'token_secret_expired=2',
      'auth_failed=1',
    ]);

    metrics.recordCheck(success(id, ['token', 'connect']), 60);
    text = await metrics.metrics();
    assert.deepEqual(series(text, 'mailprobe_check_failure_reason'), []);
    assert.deepEqual(series(text, 'mailprobe_check_consecutive_failures').map((l) => l.split(' ')[1]), ['0']);
    assert.deepEqual(series(text, 'mailprobe_check_step_duration_seconds').map((l) => l.replace(/.*step="([^"]+)".*/, '$1')), [
      'token',
      'connect',
    ], 'steps the latest run did not reach must go');
  });

  test('token roles: known roles drop to 0, unknown roles disappear', async () => {
    const metrics = new MailprobeMetrics({ version: 't', collectDefault: false });
    const roles = async (): Promise<string[]> =>
      series(await metrics.metrics(), 'mailprobe_token_role').map((l) => l.replace(/.*role="([^"]+)"} /, '$1=')).sort();

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

  test('forgetMonitor removes every series of the check and leaves others', async () => {
    const metrics = new MailprobeMetrics({ version: 't', collectDefault: false });
    const gone = identity('gone', 'roundtrip');
    const kept = identity('kept');
    metrics.recordCheck(failure(gone, 'delivery', 'delivery_timeout'), 60);
    metrics.recordSkip(gone, 'budget');
    metrics.recordDeliveryLatency(gone, 30);
    metrics.recordCheck(success(kept), 60);

    metrics.forgetMonitor(gone);
    const text = await metrics.metrics();
    const samples = text.split('\n').filter((line) => line.startsWith('mailprobe_check') || line.startsWith('mailprobe_delivery'));
    assert.ok(samples.length > 0);
    assert.deepEqual(samples.filter((line) => line.includes('"gone')), []);
    assert.ok(samples.some((line) => line.includes('monitor="kept"')));
  });

  test('10,000 monitors × 2 checks: every series is exported once, in one family block each', async () => {
    const metrics = new MailprobeMetrics({ version: 't' });
    for (let i = 0; i < 10_000; i++) {
      metrics.recordCheck(success(identity(`monitor-${i}`, 'imap')), 300);
      metrics.recordCheck(failure(identity(`monitor-${i}`, 'smtp'), 'auth', 'auth_failed'), 300);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of metrics.exposition()) chunks.push(chunk);
    const text = Buffer.concat(chunks).toString('utf8');
    assert.equal(series(text, 'mailprobe_check_success').length, 20_000);
    assert.equal(series(text, 'mailprobe_check_failure_reason').length, 10_000);
    assert.equal(text.split('\n').filter((line) => line === '# TYPE mailprobe_check_success gauge').length, 1);
    assert.ok(chunks.length > 10, 'the scrape is produced in family-sized pieces');
  });
});
