import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TokenClaims } from '../../src/diagnose/claims.js';
import { diagnose, type DiagnoseInput } from '../../src/diagnose/diagnose.js';
import { REASONS } from '../../src/core/reasons.js';
import { reasonForReply } from '../../src/diagnose/reply.js';
import { reasonForTokenError } from '../../src/diagnose/token-errors.js';
import { STAGES } from '../../src/core/check.js';

const TENANT = '9b62d4ed-1234-1234-b00d-341a1bd0b3f5';
const CLIENT = '10e1f456-1234-1234-971b-105af0774c61';
const OID = '7e9d0608-db24-1234-1234-c8d03424192d';
const MAILBOX = 'zh1@blah.org.uk';
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

const monitor = { name: 'blah-zh1', mailbox: MAILBOX, tenantId: TENANT, clientId: CLIENT };

function claims(overrides: Partial<TokenClaims> = {}): TokenClaims {
  return {
    aud: 'https://outlook.office365.com',
    tid: TENANT,
    oid: OID,
    appid: CLIENT,
    roles: ['IMAP.AccessAsApp', 'POP.AccessAsApp', 'SMTP.SendAsApp'],
    exp: NOW / 1000 + 3000,
    iat: NOW / 1000 - 900,
    ...overrides,
  };
}

function run(input: Partial<DiagnoseInput> & Pick<DiagnoseInput, 'reason' | 'stage'>) {
  return diagnose({ monitor, now: NOW, ...input });
}

describe('diagnose: generic rejections', () => {
  test('IMAP NO AUTHENTICATE failed. with a sound token names the Exchange-side candidates in order', () => {
    const d = run({ reason: 'auth_failed', stage: 'auth', protocol: 'imap', serverText: 'A2 NO AUTHENTICATE failed.', claims: claims() });
    assert.equal(d.reason, 'auth_failed');
    assert.equal(
      d.summary,
      `IMAP rejected XOAUTH2 for ${MAILBOX}; nothing in the token explains it`,
      "the server's words are shown beside the summary, not inside it",
    );
    assert.deepEqual(d.candidates, [
      `no Exchange service principal for app ${CLIENT}, or one created with the App registration's Object ID instead of the Enterprise application's ObjectId ${OID} (the token's oid)`,
      `the service principal ${OID} has no FullAccess on ${MAILBOX}`,
      `IMAP is disabled for ${MAILBOX} (ImapEnabled $false)`,
      `user=${MAILBOX} is not a mailbox in tenant ${TENANT}`,
      'a permission or service-principal change made in the last 60 minutes has not reached Exchange yet',
    ]);
    assert.deepEqual(d.fixes, [
      `Get-ServicePrincipal | fl AppId,ObjectId,Identity   (ObjectId must equal the token's oid ${OID})`,
      `New-ServicePrincipal -AppId ${CLIENT} -ObjectId ${OID}   (-ServiceId is deprecated; use -ObjectId with the Enterprise application's ObjectId)`,
      `Get-MailboxPermission -Identity ${MAILBOX}`,
      `Add-MailboxPermission -Identity ${MAILBOX} -User ${OID} -AccessRights FullAccess -AutoMapping $false`,
      `Get-CASMailbox -Identity ${MAILBOX} | fl ImapEnabled,PopEnabled,SmtpClientAuthenticationDisabled`,
      `Set-CASMailbox -Identity ${MAILBOX} -ImapEnabled $true`,
      'Exchange Online can take up to an hour to apply a permission change; re-check after that',
    ]);
  });

  test('POP3 and SMTP name their own protocol switch', () => {
    const pop = run({ reason: 'auth_failed', stage: 'auth', protocol: 'pop3', claims: claims() });
    assert.ok(pop.fixes.includes(`Set-CASMailbox -Identity ${MAILBOX} -PopEnabled $true`));
    assert.ok(pop.candidates.includes(`POP is disabled for ${MAILBOX} (PopEnabled $false)`));
    const smtp = run({
      reason: 'auth_failed',
      stage: 'auth',
      protocol: 'smtp',
      serverText: '535 5.7.3 Authentication unsuccessful [AM0PR06CA0126.eurprd06.prod.outlook.com 2024-02-14T14:50:26.590Z 08DC2D372B4C3DED]',
      claims: claims(),
    });
    assert.ok(smtp.fixes.includes(`Set-CASMailbox -Identity ${MAILBOX} -SmtpClientAuthenticationDisabled $false`));
    assert.doesNotMatch(smtp.summary, /535/, 'the server text is printed once, beside the summary');
  });

  test('role missing beats the generic auth_failed, with the consent fix and FullAccess (POP has no RBAC role)', () => {
    const d = run({
      reason: 'auth_failed',
      stage: 'auth',
      protocol: 'pop3',
      serverText: '-ERR Authentication failure: unknown user name or bad password.',
      claims: claims({ roles: ['IMAP.AccessAsApp'] }),
    });
    assert.equal(d.reason, 'role_missing');
    assert.equal(d.summary, `POP3 refused ${MAILBOX}: the token lacks POP.AccessAsApp (roles: IMAP.AccessAsApp); admin consent for it is missing`);
    assert.deepEqual(d.fixes, [
      `Entra admin center → App registrations → ${CLIENT} → API permissions → Add a permission → APIs my organization uses → Office 365 Exchange Online → Application permissions → POP.AccessAsApp → Grant admin consent`,
      `Or open as a tenant admin: https://login.microsoftonline.com/${TENANT}/v2.0/adminconsent?client_id=${CLIENT}&scope=https://ps.outlook.com/.default`,
      `Add-MailboxPermission -Identity ${MAILBOX} -User 7e9d0608-db24-1234-1234-c8d03424192d -AccessRights FullAccess -AutoMapping $false`,
      'Exchange Online can take up to an hour to apply a permission change; re-check after that',
    ]);
  });

  test('SMTP refused without the role: the RBAC route first, then the Entra permission with the additive-grant warning', () => {
    const d = run({
      reason: 'auth_failed',
      stage: 'auth',
      protocol: 'smtp',
      serverText: '535 5.7.3 Authentication unsuccessful',
      claims: claims({ roles: ['IMAP.AccessAsApp'] }),
    });
    assert.equal(d.reason, 'role_missing');
    assert.match(d.summary, /no Exchange RBAC assignment covers the mailbox either/);
    assert.match(
      d.fixes[0] ?? '',
      /^Least privilege, only the monitored mailboxes \(Exchange RBAC for Applications\): New-ManagementScope -Name "mailprobe-\S+" -RecipientRestrictionFilter "PrimarySmtpAddress -eq '/,
    );
    assert.match(
      d.fixes[1] ?? '',
      new RegExp(`^New-ManagementRoleAssignment -App ${CLIENT} -Role "Application SMTP.SendAsApp" -CustomResourceScope "mailprobe-`),
    );
    assert.equal(d.fixes[2], `Test-ServicePrincipalAuthorization -Identity ${CLIENT} -Resource ${MAILBOX}   (InScope must be True)`);
    assert.match(
      d.fixes[3] ?? '',
      /^Or every mailbox of the tenant \(Entra\): .*SMTP\.SendAsApp → Grant admin consent\. Warning: Entra and RBAC grants add up/,
    );
    assert.match(d.fixes.at(-1) ?? '', /up to an hour/);
    assert.ok(!d.fixes.join('\n').includes('ApplicationAccessPolicy'));
  });

  test('SMTP declared RBAC-scoped and refused: the mailbox is outside the management scope, never the Entra permission', () => {
    const d = run({
      reason: 'auth_failed',
      stage: 'auth',
      protocol: 'smtp',
      serverText: '535 5.7.3 Authentication unsuccessful',
      claims: claims({ roles: [] }),
      monitor: { ...monitor, authorization: 'rbac' },
    });
    assert.equal(d.reason, 'role_missing');
    assert.match(
      d.summary,
      /granted SMTP through Exchange RBAC \(authorization "rbac"\), and no "Application SMTP\.SendAsApp" assignment's management scope includes zh1@blah\.org\.uk/,
    );
    assert.equal(
      d.fixes[0],
      `Test-ServicePrincipalAuthorization -Identity ${CLIENT} -Resource ${MAILBOX}   (AllowedResourceScope names the scope; InScope must be True)`,
    );
    assert.ok(d.fixes.some((fix) => fix.includes('New-ManagementScope') && fix.includes('New-ManagementRoleAssignment')));
    assert.ok(d.fixes.some((fix) => /^Do not grant the Entra SMTP\.SendAsApp permission to fix this: Entra and RBAC grants add up/.test(fix)));
    assert.ok(!d.fixes.some((fix) => fix.includes('adminconsent')), 'no consent URL for an RBAC-scoped monitor');
  });

  test('SMTP declared Entra-granted and refused without the role: consent first, RBAC named as the least-privilege alternative', () => {
    const d = run({ reason: 'auth_failed', stage: 'auth', protocol: 'smtp', claims: claims({ roles: [] }), monitor: { ...monitor, authorization: 'entra' } });
    assert.equal(d.reason, 'role_missing');
    assert.match(d.fixes[0] ?? '', /SMTP\.SendAsApp → Grant admin consent$/);
    assert.ok(d.fixes.some((fix) => fix.startsWith('Least-privilege alternative: Exchange RBAC for Applications')));
  });

  test('a High Volume Email monitor refused without Mail.Send: the Exchange Mail.Send permission and the HVE account, never SMTP.SendAsApp or RBAC', () => {
    const d = run({
      reason: 'auth_failed',
      stage: 'auth',
      protocol: 'smtp',
      serverText: '535 5.7.3 Authentication unsuccessful',
      claims: claims({ roles: ['SMTP.SendAsApp'] }),
      monitor: { ...monitor, roles: { smtp: 'Mail.Send' } },
    });
    assert.equal(d.reason, 'role_missing');
    assert.match(
      d.summary,
      /the token lacks Mail\.Send \(roles: SMTP\.SendAsApp\); zh1@blah\.org\.uk is a High Volume Email account, which authenticates with the Exchange Mail\.Send application permission/,
    );
    assert.match(d.fixes[0] ?? '', /Office 365 Exchange Online → Application permissions → Mail\.Send → Grant admin consent$/);
    assert.ok(d.fixes.some((fix) => fix.startsWith('Exchange admin center → Mail flow → High volume email: zh1@blah.org.uk must be listed and enabled')));
    assert.ok(d.fixes.some((fix) => fix === 'Not SMTP.SendAsApp: High Volume Email does not accept it'));
    assert.ok(
      d.fixes.some(
        (fix) => fix === `The app must be on the HVE account's Allowed Apps list: Add-HVEAppAccess -Identity zh1@blah.org.uk -AppIds ${monitor.clientId}`,
      ),
      d.fixes.join('\n'),
    );
    assert.ok(!d.fixes.some((fix) => /New-ManagementRoleAssignment|→ SMTP\.SendAsApp/.test(fix)), d.fixes.join('\n'));
  });

  test('a High Volume Email monitor whose token holds Mail.Send is not told about roles', () => {
    const d = run({
      reason: 'auth_failed',
      stage: 'auth',
      protocol: 'smtp',
      claims: claims({ roles: ['Mail.Send'] }),
      monitor: { ...monitor, roles: { smtp: 'Mail.Send' } },
    });
    assert.notEqual(d.reason, 'role_missing');
  });

  test('wrong audience is named before the missing role it causes', () => {
    const d = run({
      reason: 'auth_failed',
      stage: 'auth',
      protocol: 'imap',
      claims: claims({ aud: 'https://graph.microsoft.com', roles: ['Mail.Read'] }),
    });
    assert.equal(d.reason, 'token_wrong_audience');
    assert.deepEqual(d.candidates, [
      'the token lacks IMAP.AccessAsApp (roles: Mail.Read)',
      'a Microsoft Graph scope (https://graph.microsoft.com/.default) was requested',
    ]);
    assert.deepEqual(d.fixes, ['Request exactly one scope: https://outlook.office.com/.default']);
  });

  test('wrong tenant and expired tokens are ruled out before Exchange candidates', () => {
    const otherTenant = run({ reason: 'auth_failed', stage: 'auth', protocol: 'smtp', claims: claims({ tid: '00000000-0000-0000-0000-000000000001' }) });
    assert.equal(otherTenant.reason, 'token_wrong_tenant');
    const expired = run({ reason: 'auth_failed', stage: 'auth', protocol: 'smtp', claims: claims({ exp: NOW / 1000 - 3600 }) });
    assert.equal(expired.reason, 'token_expired');
    assert.equal(expired.summary, 'The access token had expired: the token expired at 2026-01-15T11:00:00.000Z (now 2026-01-15T12:00:00.000Z)');
  });

  test('without claims the token stays a candidate', () => {
    const d = run({ reason: 'auth_failed', stage: 'auth', protocol: 'imap' });
    assert.equal(d.candidates[0], 'the token could not be inspected: a missing role, wrong aud or expired token is still possible');
    assert.ok(
      d.fixes.includes(
        `New-ServicePrincipal -AppId ${CLIENT} -ObjectId <Enterprise-app ObjectId>   (-ServiceId is deprecated; use -ObjectId with the Enterprise application's ObjectId)`,
      ),
    );
  });

  test('an intermittent POP logon failure puts throttling first', () => {
    const d = run({
      reason: 'auth_failed',
      stage: 'auth',
      protocol: 'pop3',
      serverText: '-ERR Logon failure: unknown user name or bad password.',
      claims: claims(),
    });
    assert.equal(d.candidates[0], 'throttling after many rapid logins, if this failure is intermittent');
  });

  test('token findings do not leak into unrelated diagnoses', () => {
    const d = run({ reason: 'connect_refused', stage: 'connect', protocol: 'imap', claims: claims({ roles: [] }) });
    assert.equal(d.reason, 'connect_refused');
    assert.deepEqual(d.candidates, ['wrong host or port', 'a local firewall rejects the connection']);
    assert.equal(d.fixes[0], 'Reproduce from the monitor host: openssl s_client -connect outlook.office365.com:993 -crlf -quiet');
  });
});

describe('diagnose: specific reasons', () => {
  test('auth_not_connected is its own reason, with FullAccess fixes and a back-off', () => {
    const text = 'BAD User is authenticated but not connected.';
    const d = run({ reason: reasonForReply('imap', 'list', text), stage: 'list', protocol: 'imap', serverText: text, claims: claims() });
    assert.equal(d.reason, 'auth_not_connected');
    assert.deepEqual(d.fixes, [
      `Get-MailboxPermission -Identity ${MAILBOX}`,
      `Add-MailboxPermission -Identity ${MAILBOX} -User ${OID} -AccessRights FullAccess -AutoMapping $false`,
      `Set-CASMailbox -Identity ${MAILBOX} -ImapEnabled $true`,
      'Exchange Online can take up to an hour to apply a permission change; re-check after that',
      'Wait 60000 ms, about 1 min before the next attempt; mailprobe backs off by that much',
    ]);
  });

  test('throttled says the back-off the server asked for', () => {
    const text = 'NO Request is throttled. Suggested Backoff Time: 299609 milliseconds';
    const d = run({ reason: 'throttled', stage: 'auth', protocol: 'imap', serverText: text });
    assert.equal(d.summary, `Exchange throttled IMAP for ${MAILBOX} and asked for 299609 ms of back-off`);
    assert.equal(d.fixes[0], 'Wait 299609 ms, about 5 min before the next attempt; mailprobe backs off by that much');
    const smtp = run({
      reason: 'throttled',
      stage: 'send',
      protocol: 'smtp',
      serverText: '432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname=DM5SPR00MB2471…]',
    });
    assert.ok(smtp.summary.includes('asked for 60000 ms of back-off'), smtp.summary);
  });

  test('SMTP policy reasons give the exact commands', () => {
    assert.deepEqual(run({ reason: 'smtp_auth_disabled_tenant', stage: 'auth', protocol: 'smtp' }).fixes, [
      'Set-TransportConfig -SmtpClientAuthenticationDisabled $false',
      `Or only for this mailbox (overrides the tenant): Set-CASMailbox -Identity ${MAILBOX} -SmtpClientAuthenticationDisabled $false`,
    ]);
    assert.deepEqual(run({ reason: 'smtp_auth_disabled_mailbox', stage: 'auth', protocol: 'smtp' }).fixes, [
      `Set-CASMailbox -Identity ${MAILBOX} -SmtpClientAuthenticationDisabled $false`,
    ]);
    assert.ok(
      run({ reason: 'send_as_denied', stage: 'send', protocol: 'smtp', claims: claims() }).fixes.includes(
        `Add-RecipientPermission ${MAILBOX} -Trustee ${OID} -AccessRights SendAs`,
      ),
    );
  });

  test('token stage failures are diagnosed from the token error alone', () => {
    const tokenError = { httpStatus: 401, error: 'invalid_client', errorCodes: [7000215] };
    const d = run({ reason: reasonForTokenError(tokenError), stage: 'token', tokenError });
    assert.equal(d.reason, 'token_invalid_client_secret');
    assert.equal(d.summary, `Entra ID refused the client secret of app ${CLIENT} in tenant ${TENANT} (AADSTS7000215, HTTP 401)`);
    assert.deepEqual(d.fixes, [
      `Entra admin center → App registrations → ${CLIENT} → Certificates & secrets → New client secret (copy the Value, not the Secret ID)`,
      `Put the new Value into the secret of monitor ${monitor.name}`,
    ]);

    const throttled = run({ reason: 'throttled', stage: 'token', tokenError: { httpStatus: 429, retryAfterSeconds: 60 } });
    assert.equal(throttled.summary, `Entra ID throttled token requests for app ${CLIENT} in tenant ${TENANT} (HTTP 429)`);
    assert.equal(throttled.fixes[0], 'Wait 60000 ms, about 1 min before the next attempt; mailprobe backs off by that much');

    const unreachable = run({ reason: 'timeout', stage: 'token', tokenError: { networkCode: 'ETIMEDOUT' } });
    assert.equal(unreachable.summary, 'HTTPS token step with login.microsoftonline.com:443 timed out');
  });

  test('national clouds: consent URL and scope follow the authority host', () => {
    const gov = { ...monitor, authorityHost: 'https://login.microsoftonline.us/' };
    const d = diagnose({
      reason: 'role_missing',
      stage: 'role',
      protocol: 'smtp',
      monitor: gov,
      claims: claims({ aud: 'https://outlook.office365.us', roles: [] }),
      now: NOW,
    });
    assert.equal(
      d.fixes[1],
      `Or open as a tenant admin: https://login.microsoftonline.us/${TENANT}/v2.0/adminconsent?client_id=${CLIENT}&scope=https://outlook.office365.us/.default`,
    );
    assert.equal(d.summary, 'Admin consent is missing: the token lacks SMTP.SendAsApp (roles: none)');
    const scope = diagnose({
      reason: 'token_invalid_scope',
      stage: 'token',
      monitor: { ...monitor, authorityHost: 'login.partner.microsoftonline.cn' },
      now: NOW,
    });
    assert.deepEqual(scope.fixes, ['Request exactly one scope: https://partner.outlook.cn/.default']);
  });

  test('every reason in every stage has a summary and a fix with no unfilled values', () => {
    for (const reason of REASONS) {
      for (const stage of STAGES) {
        const d = run({ reason, stage, protocol: 'smtp', claims: claims(), serverText: 'x' });
        assert.ok(d.summary.length > 0 && d.fixes.length > 0, `${reason}/${stage}`);
        const all = [d.summary, ...d.candidates, ...d.fixes].join('\n');
        assert.ok(!/undefined|NaN|\[object|\$\{/.test(all), `${reason}/${stage}: ${all}`);
      }
    }
  });
});

// Application access policies are replaced by RBAC for Applications (docs/exchange-online-errors.md §10): no
// fix for any reason, protocol or declared authorization ever suggests creating one.
describe('no fix suggests an application access policy', () => {
  test('every reason × stage × protocol × authorization', () => {
    let seen = 0;
    for (const reason of REASONS) {
      for (const stage of STAGES) {
        for (const protocol of ['imap', 'pop3', 'smtp', undefined] as const) {
          for (const authorization of ['rbac', 'entra', undefined] as const) {
            for (const roles of [[], ['IMAP.AccessAsApp', 'POP.AccessAsApp', 'SMTP.SendAsApp']]) {
              const d = run({
                reason,
                stage,
                ...(protocol ? { protocol } : {}),
                claims: claims({ roles }),
                monitor: { ...monitor, ...(authorization ? { authorization } : {}) },
              });
              const text = [d.summary, ...d.candidates, ...d.fixes].join('\n');
              assert.doesNotMatch(text, /ApplicationAccessPolic/i, `${reason}/${stage}/${protocol ?? '-'}/${authorization ?? '-'}`);
              seen += 1;
            }
          }
        }
      }
    }
    assert.ok(seen > 1000);
  });
});
