import type { ReasonCode } from '../../src/core/reasons.js';
import type { CheckKind, Stage } from '../../src/core/check.js';
import type { CheckIdentity, CheckResult } from '../../src/core/result.js';
import { MailprobeMetrics } from '../../src/metrics/metrics.js';
import { folding } from './fold.js';

// Results and a filled registry for the metrics tests: the unit test reads its exposition, the integration test
// hands the same exposition to promtool.
export const T0 = 1_700_000_000_000;

export function identity(monitor: string, check: CheckKind = 'imap'): CheckIdentity {
  return { monitor, tenant: 'contoso.onmicrosoft.com', mailbox: `${monitor}@contoso.com`, check };
}

export function success(id: CheckIdentity, steps: Stage[] = ['token', 'connect', 'tls', 'auth', 'list', 'logout']): CheckResult {
  return {
    ...id,
    startedAt: T0,
    durationSeconds: 0.8,
    outcome: { ok: true, steps: steps.map((step) => ({ step, seconds: 0.1 })), measured: {}, facts: {} },
  };
}

export function failure(id: CheckIdentity, stage: Stage, reason: ReasonCode): CheckResult {
  return {
    ...id,
    startedAt: T0 + 60_000,
    durationSeconds: 2,
    outcome: {
      ok: false,
      steps: [
        { step: 'token', seconds: 0.2 },
        { step: stage, seconds: 1.5 },
      ],
      failure: { stage, reason, message: 'failed' },
      measured: {},
      facts: {},
    },
    reason,
    diagnosis: { reason, summary: 'failed', candidates: [], fixes: [] },
  };
}

/** The sample lines of one metric name (without HELP/TYPE), e.g. series(text, 'mailprobe_check_success'). */
export function series(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

/** A registry with every family filled at least once, and label values that need escaping. */
export function sampleMetrics(): MailprobeMetrics {
  const metrics = new MailprobeMetrics({ version: '0.1.0' });
  const fold = folding();
  const imap = identity('m1');
  const smtp = identity('m1', 'smtp');
  metrics.expectCheck(imap, 300);
  metrics.expectCheck(smtp, 300);
  metrics.recordCheck(fold(success(imap)), 300);
  metrics.recordCheck({ ...fold(failure(smtp, 'auth', 'smtp_auth_disabled_tenant')), cause: 'smtp_auth_gate' }, 300);
  metrics.recordSkip(imap, 'overlap');
  metrics.recordSkip(smtp, 'backoff');
  metrics.expectCheck(identity('m1', 'roundtrip'), 300);
  metrics.recordDeliveryLatency(identity('m1', 'roundtrip'), 12.5);
  metrics.recordTokenRequest('contoso.onmicrosoft.com', 'client-1', 'success');
  metrics.recordTokenRequest('contoso.onmicrosoft.com', 'client-1', 'failure');
  metrics.setToken('contoso.onmicrosoft.com', 'client-1', { expiresAt: 1_700_003_600, roles: ['IMAP.AccessAsApp', 'SMTP.SendAsApp'] });
  metrics.setCredentialExpiry('contoso.onmicrosoft.com', 'client-1', 'client_secret', 1_730_000_000);
  metrics.setConfigReload(true, 1_700_000_000);
  metrics.recordCheck(fold(success({ ...identity('odd "name" \\ with\nnewline'), check: 'pop3' })), 60);
  return metrics;
}
