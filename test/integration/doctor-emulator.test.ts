import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../support/cli.js';
import { startEmulatorBed, type EmulatorBed } from '../support/emulator-bed.js';
import { writeMonitors } from '../support/monitors.js';

// `mailprobe doctor` against the Exchange Online emulator: for each way an admin's setup breaks, the
// checklist names the first broken step, the bounded reason and the command that fixes it, with real values.

interface DoctorStep {
  id: string;
  verdict: string;
  reason?: string;
  serverText?: string;
  diagnosis?: { fixes: string[]; candidates: string[]; summary: string };
}

let bed: EmulatorBed;

before(async () => {
  bed = await startEmulatorBed();
});

after(() => bed?.close());

interface Fault {
  name: string;
  step: string;
  reason: string;
  fix: RegExp;
  config?: () => DoctorOptions;
  breakIt?: () => void;
  repair?: () => void;
}

const ALL_ROLES = ['IMAP.AccessAsApp', 'POP.AccessAsApp', 'SMTP.SendAsApp'];

const faults: Fault[] = [
  { name: 'bad secret', step: 'token', reason: 'token_invalid_client_secret', fix: /secret/i, config: () => ({ secret: 'the-secret-id-not-its-value' }) },
  {
    name: 'expired secret',
    step: 'token',
    reason: 'token_secret_expired',
    fix: /secret/i,
    breakIt: () => bed.model.expireSecret(bed.tenantId, bed.clientId),
    repair: () => {
      bed.model.revokeSecret(bed.tenantId, bed.clientId);
      bed.model.addSecret(bed.tenantId, bed.clientId, { value: bed.clientSecret });
    },
  },
  {
    name: 'unknown app',
    step: 'token',
    reason: 'token_unknown_app',
    fix: /client\) ID|clientId|Application/i,
    config: () => ({ clientId: '11111111-2222-4333-8444-555555555555' }),
  },
  { name: 'wrong tenant', step: 'token', reason: 'token_unknown_tenant', fix: /tenant/i, config: () => ({ tenantId: 'fabrikam-typo.onmicrosoft.com' }) },
  {
    name: 'consent missing: the roles step warns, IMAP refuses and the diagnosis names the consent',
    step: 'imap_auth',
    reason: 'role_missing',
    fix: /adminconsent\?client_id=/,
    breakIt: () => bed.model.setRoles(bed.tenantId, bed.clientId, []),
    repair: () => bed.model.setRoles(bed.tenantId, bed.clientId, ALL_ROLES),
  },
  {
    name: 'wrong scope/audience',
    step: 'audience',
    reason: 'token_wrong_audience',
    fix: /outlook\.office(365)?\.com\/\.default/,
    config: () => ({ scope: 'https://graph.microsoft.com/.default' }),
  },
  {
    name: 'no Exchange service principal',
    step: 'imap_auth',
    reason: 'auth_failed',
    fix: /New-ServicePrincipal -AppId \S+ -ObjectId [0-9a-f-]{36}/,
    breakIt: () => bed.model.removeServicePrincipal(bed.tenantId, bed.clientId),
    repair: () => bed.model.registerServicePrincipal(bed.tenantId, bed.clientId),
  },
  {
    name: 'no FullAccess',
    step: 'imap_auth',
    reason: 'auth_failed',
    fix: /Add-MailboxPermission -Identity probe@contoso\.onmicrosoft\.com -User [0-9a-f-]{36} -AccessRights FullAccess/,
    breakIt: () => bed.model.setFullAccess(bed.tenantId, bed.mailbox, bed.clientId, false),
    repair: () => bed.model.setFullAccess(bed.tenantId, bed.mailbox, bed.clientId, true),
  },
  {
    name: 'IMAP disabled',
    step: 'imap_auth',
    reason: 'auth_failed',
    fix: /Set-CASMailbox -Identity probe@contoso\.onmicrosoft\.com -ImapEnabled \$true/,
    breakIt: () => bed.model.setProtocol(bed.tenantId, bed.mailbox, 'imap', false),
    repair: () => bed.model.setProtocol(bed.tenantId, bed.mailbox, 'imap', true),
  },
  {
    name: 'POP disabled',
    step: 'pop3_auth',
    reason: 'auth_failed',
    fix: /Set-CASMailbox -Identity probe@contoso\.onmicrosoft\.com -PopEnabled \$true/,
    breakIt: () => bed.model.setProtocol(bed.tenantId, bed.mailbox, 'pop3', false),
    repair: () => bed.model.setProtocol(bed.tenantId, bed.mailbox, 'pop3', true),
  },
  {
    name: 'SMTP AUTH disabled for the mailbox',
    step: 'smtp_auth',
    reason: 'smtp_auth_disabled_mailbox',
    fix: /Set-CASMailbox -Identity probe@contoso\.onmicrosoft\.com -SmtpClientAuthenticationDisabled \$false/,
    breakIt: () => bed.model.setSmtpAuthDisabled(bed.tenantId, bed.mailbox, true),
    repair: () => bed.model.setSmtpAuthDisabled(bed.tenantId, bed.mailbox, null),
  },
  {
    name: 'SMTP AUTH disabled for the tenant',
    step: 'smtp_auth',
    reason: 'smtp_auth_disabled_tenant',
    fix: /Set-TransportConfig -SmtpClientAuthenticationDisabled \$false/,
    breakIt: () => bed.model.setSmtpAuthDisabled(bed.tenantId, null, true),
    repair: () => bed.model.setSmtpAuthDisabled(bed.tenantId, null, false),
  },
  {
    name: 'send-as denied',
    step: 'smtp_send',
    reason: 'send_as_denied',
    fix: /Add-RecipientPermission/,
    breakIt: () => {
      bed.exchange.faults.smtpSendAsDenied = true;
    },
    repair: () => {
      bed.exchange.faults.smtpSendAsDenied = false;
    },
  },
  {
    name: 'IMAP throttled',
    step: 'imap_auth',
    reason: 'throttled',
    fix: /./,
    breakIt: () => {
      bed.model.faults.imapThrottleMs = 299609;
    },
    repair: () => {
      bed.model.faults.imapThrottleMs = null;
    },
  },
  {
    name: 'token endpoint throttled',
    step: 'token',
    reason: 'throttled',
    fix: /./,
    breakIt: () => {
      bed.model.faults.tokenThrottleSeconds = 60;
    },
    repair: () => {
      bed.model.faults.tokenThrottleSeconds = null;
    },
  },
];

type DoctorOptions = NonNullable<Parameters<typeof writeMonitors>[1]> & { clientId?: string; tenantId?: string; scope?: string };

async function doctor(options: DoctorOptions = {}) {
  const { clientId, tenantId, scope, ...rest } = options;
  const target = { ...bed, ...(clientId ? { clientId } : {}), ...(tenantId ? { tenantId } : {}) };
  const { file } = writeMonitors(target, {
    ...rest,
    monitors: [{ name: 'doc', checks: ['imap', 'pop3', 'smtp'] }],
    ...(scope ? { tenantExtra: { scope } } : {}),
  });
  const run = await runCli(['doctor', '--config', file, '--json']);
  const parsed = JSON.parse(run.stdout) as { ok: boolean; monitors: Array<{ steps: DoctorStep[]; note?: string }> };
  return { run, steps: parsed.monitors[0]!.steps, note: parsed.monitors[0]!.note };
}

describe('mailprobe doctor against the Exchange Online emulator', () => {
  test('a healthy setup passes every step', async () => {
    const { run, steps } = await doctor();
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.deepEqual(
      steps.filter((step) => step.verdict !== 'skipped').map((step) => `${step.id}:${step.verdict}`),
      [
        'config',
        'token',
        'audience',
        'roles',
        'imap_xoauth2',
        'imap_auth',
        'imap_list',
        'pop3_xoauth2',
        'pop3_auth',
        'pop3_stat',
        'smtp_xoauth2',
        'smtp_auth',
        'smtp_send',
      ].map((id) => `${id}:pass`),
    );
  });

  for (const fault of faults) {
    test(`${fault.name} → first broken step ${fault.step} (${fault.reason}) with its fix`, async () => {
      fault.breakIt?.();
      try {
        const { run, steps, note } = await doctor(fault.config?.() ?? {});
        assert.equal(run.code, 1, run.stdout + run.stderr);
        const first = steps.find((step) => step.verdict === 'fail');
        assert.equal(first?.id, fault.step, JSON.stringify(steps, null, 1));
        assert.equal(first?.reason, fault.reason);
        const fixes = first?.diagnosis?.fixes.join('\n') ?? '';
        assert.match(fixes, fault.fix);
        const after = steps.slice(steps.indexOf(first) + 1);
        assert.ok(
          after.every((step) => step.verdict === 'not_reached' || step.verdict === 'skipped'),
          'nothing after the first failure is judged',
        );
        if (fault.reason === 'auth_failed') assert.match(note ?? '', /up to an hour/);
      } finally {
        fault.repair?.();
      }
    });
  }

  test('the readable checklist prints verdicts and the fix of the first failing step', async () => {
    bed.model.setFullAccess(bed.tenantId, bed.mailbox, bed.clientId, false);
    try {
      const { file } = writeMonitors(bed, { monitors: [{ name: 'doc', checks: ['imap'] }] });
      const run = await runCli(['doctor', '--config', file]);
      assert.equal(run.code, 1);
      assert.match(run.stdout, /\[ok\] +Token issued by Entra ID/);
      assert.match(run.stdout, /\[FAIL\] IMAP AUTHENTICATE XOAUTH2 as the mailbox/);
      assert.match(run.stdout, /server said: .*NO AUTHENTICATE failed\./);
      assert.match(run.stdout, /Add-MailboxPermission/);
      assert.ok(!run.stdout.includes(bed.clientSecret));
    } finally {
      bed.model.setFullAccess(bed.tenantId, bed.mailbox, bed.clientId, true);
    }
  });

  test('says how each host is reached: the login service direct, the mail servers through the proxy (never its password)', async () => {
    // Port 9 on loopback: nothing listens, so the mail checks fail at the proxy while the token is still issued.
    const { file } = writeMonitors(bed, {
      monitors: [{ name: 'doc', checks: ['imap', 'smtp'] }],
      defaults: { proxy: 'http://scout:hunter2-proxy@127.0.0.1:9' },
      tenantExtra: { proxy: 'direct' },
    });
    const run = await runCli(['doctor', '--config', file]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /\[FAIL\] .*\n[\s\S]*reason: proxy_unreachable/);
    assert.match(run.stdout, /Network:\n +127\.0\.0\.1:\d+ \(login service\): direct \(proxy "direct" in the configuration\)/);
    assert.match(
      run.stdout,
      new RegExp(`${bed.imap.host.replace(/\./g, '\\.')}:${String(bed.imap.port)} \\(imap\\): through http://127\\.0\\.0\\.1:9 \\(config\\)`),
    );
    assert.match(run.stdout, /\(smtp\): through http:\/\/127\.0\.0\.1:9 \(config\)/);
    assert.ok(!run.stdout.includes('hunter2-proxy') && !run.stderr.includes('hunter2-proxy'), 'the proxy password is never printed');

    const json = await runCli(['doctor', '--config', file, '--json']);
    const parsed = JSON.parse(json.stdout) as { monitors: Array<{ network: Array<{ purpose: string; route: string }> }> };
    assert.deepEqual(
      parsed.monitors[0]!.network.map((line) => line.purpose),
      ['login service', 'imap', 'smtp'],
    );
    assert.ok(!json.stdout.includes('hunter2-proxy'));
  });
});
