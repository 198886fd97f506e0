import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Protocol, Stage } from '../../src/core/check.js';
import type { ReasonCode } from '../../src/core/reasons.js';
import { SMTP_THREAD_LIMIT_BACKOFF_MS, backoffMsForReply, parseBackoffMs, reasonForReply, stripExchangeBracket } from '../../src/diagnose/reply.js';

interface Case {
  protocol: Protocol;
  stage: Stage;
  text: string;
  reason: ReasonCode;
  /** false for texts that come from elsewhere than the Exchange catalogue (Dovecot, Postfix). */
  inCatalogue?: false;
}

// Copied verbatim from docs/exchange-online-errors.md ("Token claims", "IMAP", "POP3", "SMTP"), brackets and ellipses included.
const cases: Case[] = [
  // IMAP §3
  { protocol: 'imap', stage: 'auth', text: 'NO AUTHENTICATE failed.', reason: 'auth_failed' },
  { protocol: 'imap', stage: 'list', text: 'BAD User is authenticated but not connected.', reason: 'auth_not_connected' },
  { protocol: 'imap', stage: 'list', text: '* BYE Connection closed. 14', reason: 'server_unavailable' },
  { protocol: 'imap', stage: 'auth', text: 'NO Request is throttled. Suggested Backoff Time: 299609 milliseconds', reason: 'throttled' },
  { protocol: 'imap', stage: 'list', text: 'BAD Request is throttled. Suggested Backoff Time: 178755 milliseconds', reason: 'throttled' },
  { protocol: 'imap', stage: 'auth', text: 'NO Server Unavailable. 15', reason: 'server_unavailable' },
  { protocol: 'imap', stage: 'list', text: 'BAD Command Argument Error. 11', reason: 'protocol_error' },
  { protocol: 'imap', stage: 'list', text: 'BAD Command Argument Error. 12', reason: 'protocol_error' },
  { protocol: 'imap', stage: 'auth', text: 'BAD Command Error. 10', reason: 'protocol_error' },
  { protocol: 'imap', stage: 'auth', text: 'Error="AuthFailed:LogonDenied-None-OAuthLog:AuthExc_Auth Failed…"', reason: 'auth_failed' },
  // POP3 §4
  { protocol: 'pop3', stage: 'auth', text: '-ERR Authentication failure: unknown user name or bad password.', reason: 'auth_failed' },
  { protocol: 'pop3', stage: 'auth', text: '-ERR Protocol error. Connection is closed. 10', reason: 'protocol_error' },
  { protocol: 'pop3', stage: 'auth', text: '-ERR Logon failure: unknown user name or bad password.', reason: 'auth_failed' },
  // SMTP §2 and §5
  { protocol: 'smtp', stage: 'auth', text: '535 5.7.3 Authentication unsuccessful', reason: 'auth_failed' },
  {
    protocol: 'smtp',
    stage: 'starttls',
    text: '421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2. Visit https://aka.ms/smtp_auth_tls. [SA9P221CA0019.NAMP221.PROD.OUTLOOK.COM]',
    reason: 'tls_version_rejected',
  },
  {
    protocol: 'smtp',
    stage: 'auth',
    text: '504 5.7.4 Unrecognized authentication type [FR2P281CA0035.DEUP281.PROD.OUTLOOK.COM 2023-03-23T18:00:39.250Z 08DB2B43918359DA]',
    reason: 'auth_mechanism_rejected',
  },
  {
    protocol: 'smtp',
    stage: 'auth',
    text: '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. […]',
    reason: 'smtp_auth_disabled_tenant',
  },
  {
    protocol: 'smtp',
    stage: 'auth',
    text: '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox…',
    reason: 'smtp_auth_disabled_mailbox',
  },
  {
    protocol: 'smtp',
    stage: 'auth',
    text: '535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator.',
    reason: 'smtp_auth_policy_blocked',
  },
  {
    protocol: 'smtp',
    stage: 'auth',
    text: "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy.",
    reason: 'smtp_auth_policy_blocked',
  },
  {
    protocol: 'smtp',
    stage: 'auth',
    text: '535 5.7.139 Authentication unsuccessful, basic authentication is disabled. […]',
    reason: 'basic_auth_rejected',
  },
  { protocol: 'smtp', stage: 'auth', text: '…the user credentials were incorrect. [PH0PR07CA0004…]', reason: 'basic_auth_rejected' },
  {
    protocol: 'smtp',
    stage: 'auth',
    text: '535 5.7.3 Authentication unsuccessful [AM0PR06CA0126.eurprd06.prod.outlook.com 2024-02-14T14:50:26.590Z 08DC2D372B4C3DED]',
    reason: 'auth_failed',
  },
  {
    protocol: 'smtp',
    stage: 'auth',
    text: '501 5.5.124 Invalid XOAUTH2 auth data - User address provided is not valid. Please ensure the auth d…',
    reason: 'invalid_user',
  },
  {
    protocol: 'smtp',
    stage: 'send',
    text: '530 5.7.57 Client not authenticated to send mail. [FR5P281CA0041… 2024-10-09T10:39:31.988Z 08DCE8162EC4E3C0]',
    reason: 'not_authenticated',
  },
  {
    protocol: 'smtp',
    stage: 'send',
    text: '530 5.7.57 SMTP; Client was not authenticated to send anonymous mail during MAIL FROM',
    reason: 'not_authenticated',
  },
  {
    protocol: 'smtp',
    stage: 'send',
    text: '550 5.7.60 SMTP; Client does not have permissions to send as this sender',
    reason: 'send_as_denied',
  },
  {
    protocol: 'smtp',
    stage: 'send',
    text: '554 5.2.252 SendAsDenied; x not allowed to send as y; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message. …',
    reason: 'send_as_denied',
  },
  {
    protocol: 'smtp',
    stage: 'send',
    text: '554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied…',
    reason: 'send_as_denied',
  },
  {
    protocol: 'smtp',
    stage: 'send',
    text: '430 4.2.0 STOREDRV; mailbox logon failure; STOREDRV.Submission.Exception:ConnectionFailedTransientException.MapiExceptionLogonFailed; … Cannot open mailbox. Server = …',
    reason: 'mailbox_logon_failed',
  },
  {
    protocol: 'smtp',
    stage: 'send',
    text: '432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname=DM5SPR00MB2471…]',
    reason: 'throttled',
  },
  {
    protocol: 'smtp',
    stage: 'send',
    text: '554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException',
    reason: 'submission_quota_exceeded',
  },
  {
    protocol: 'smtp',
    stage: 'send',
    text: '554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded',
    reason: 'mailbox_full',
  },
  {
    protocol: 'smtp',
    stage: 'send',
    text: '4.3.111 Temporary server error. Please try again later MRH1 [Hostname=…]',
    reason: 'server_unavailable',
  },
  {
    protocol: 'smtp',
    stage: 'auth',
    text: '4.7.0 Temporary server error. Please try again later. PRX4 […]',
    reason: 'server_unavailable',
  },
  { protocol: 'smtp', stage: 'send', text: '550 5.1.8 Access denied, bad outbound sender', reason: 'sender_restricted' },
  {
    protocol: 'smtp',
    stage: 'send',
    text: '554 5.2.0 STOREDRV.Submission.Exception:OutboundSpamException; … WASCL UserAction verdict is not None. Actual verdict is RefuseQuota, ShowTierUpgrade.',
    reason: 'sender_restricted',
  },
  { protocol: 'smtp', stage: 'send', text: "500 5.3.3 Unrecognized command 'unknown' […]", reason: 'protocol_error' },
  { protocol: 'smtp', stage: 'send', text: '451 4.7.500 Server busy … (S77719)', reason: 'server_unavailable' },
  {
    protocol: 'smtp',
    stage: 'send',
    text: '550 5.4.1 Recipient address rejected: Access denied. AS(201806281)',
    reason: 'send_rejected',
  },
  // The server ending the session (issue 21; the *(added)* rows of the catalogue).
  { protocol: 'pop3', stage: 'stat', text: '-ERR Server Unavailable. 21', reason: 'server_unavailable' },
  { protocol: 'pop3', stage: 'greeting', text: '-ERR Server Unavailable. 21', reason: 'server_unavailable' },
  { protocol: 'smtp', stage: 'auth', text: '421 4.3.2 Service not active [TYAPR01CA0229.jpnprd01.prod.outlook.com]', reason: 'server_unavailable' },
  // §10, Additions 2025–2026.
  { protocol: 'smtp', stage: 'auth', text: '550 5.7.30 Basic authentication is not supported for Client Submission.', reason: 'basic_auth_rejected' },
  { protocol: 'smtp', stage: 'send', text: '432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending', reason: 'throttled' },
  { protocol: 'smtp', stage: 'auth', text: '432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending', reason: 'throttled' },
  { protocol: 'smtp', stage: 'send', text: '432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded', reason: 'throttled' },
  { protocol: 'smtp', stage: 'send', text: '550 5.7.232 …', reason: 'tenant_external_limit' },
  {
    protocol: 'smtp',
    stage: 'send',
    text: '550 5.7.233 … your tenant exceeded its daily limit for sending email to external recipients',
    reason: 'tenant_external_limit',
  },
  { protocol: 'smtp', stage: 'send', text: '550 5.5.105 External sending is not supported for High Volume Email accounts', reason: 'hve_external_recipient' },
  // Generic servers (Dovecot, Postfix) used by the local sandbox.
  { protocol: 'imap', stage: 'auth', text: 'A1 NO [AUTHENTICATIONFAILED] Authentication failed.', reason: 'auth_failed', inCatalogue: false },
  { protocol: 'pop3', stage: 'auth', text: '-ERR [AUTH] Authentication failed.', reason: 'auth_failed', inCatalogue: false },
  {
    protocol: 'smtp',
    stage: 'auth',
    text: '535 5.7.8 Error: authentication failed: authentication failure',
    reason: 'auth_failed',
    inCatalogue: false,
  },
];

// The project's own copy, with every text's source.
const cataloguePath = join(process.cwd(), 'docs', 'exchange-online-errors.md');

describe('reasonForReply', () => {
  for (const c of cases) {
    test(`${c.protocol}/${c.stage}: ${c.text.slice(0, 70)}`, () => {
      assert.equal(reasonForReply(c.protocol, c.stage, c.text), c.reason);
    });
  }

  test('catalogue texts in the table are verbatim', () => {
    assert.ok(existsSync(cataloguePath), cataloguePath);
    const catalogue = readFileSync(cataloguePath, 'utf8');
    const missing = cases.filter((c) => c.inCatalogue !== false && !catalogue.includes(c.text)).map((c) => c.text);
    assert.deepEqual(missing, []);
  });

  test('tagged IMAP replies and multi-line replies classify the same', () => {
    assert.equal(reasonForReply('imap', 'auth', 'A00000002 NO AUTHENTICATE failed.'), 'auth_failed');
    assert.equal(reasonForReply('imap', 'list', 'A3 BAD User is authenticated but not connected.\r\n* BYE Connection closed. 14'), 'auth_not_connected');
  });

  test('fallbacks per stage', () => {
    assert.equal(reasonForReply('imap', 'auth', 'NO something new'), 'auth_failed');
    assert.equal(reasonForReply('smtp', 'auth', '454 4.7.0 Temporary authentication failure'), 'auth_failed');
    assert.equal(reasonForReply('imap', 'list', 'NO LIST failed'), 'list_failed');
    // After a login that worked, an -ERR is the server's doing unless its words name a permission.
    assert.equal(reasonForReply('pop3', 'stat', '-ERR mailbox locked'), 'server_unavailable');
    assert.equal(reasonForReply('pop3', 'stat', '-ERR access denied'), 'list_failed');
    assert.equal(reasonForReply('smtp', 'send', '452 4.5.3 Too many recipients'), 'server_unavailable');
    assert.equal(reasonForReply('smtp', 'send', '553 5.1.3 bad address'), 'send_rejected');
    assert.equal(reasonForReply('smtp', 'send', 'garbage'), 'protocol_error');
    assert.equal(reasonForReply('smtp', 'greeting', '554 go away'), 'protocol_error');
  });

  test('a rule is specific to its protocol', () => {
    // An SMTP enhanced code inside an IMAP reply matches no SMTP row; the list fallback applies.
    assert.equal(reasonForReply('imap', 'list', 'NO 550 5.7.60 whatever'), 'list_failed');
  });
});

describe('stripExchangeBracket', () => {
  test('removes the FQDN + timestamp + id bracket', () => {
    assert.equal(
      stripExchangeBracket('535 5.7.3 Authentication unsuccessful [AM0PR06CA0126.eurprd06.prod.outlook.com 2024-02-14T14:50:26.590Z 08DC2D372B4C3DED]'),
      '535 5.7.3 Authentication unsuccessful',
    );
  });
  test('removes the older [FQDN] and [Hostname=…] forms', () => {
    assert.equal(
      stripExchangeBracket('421 4.7.66 TLS 1.0 and 1.1 are not supported. [SA9P221CA0019.NAMP221.PROD.OUTLOOK.COM]'),
      '421 4.7.66 TLS 1.0 and 1.1 are not supported.',
    );
    assert.equal(stripExchangeBracket('250 2.0.0 OK <abc@x> [Hostname=DM5SPR00MB2471.namprd00.PROD.OUTLOOK.COM]'), '250 2.0.0 OK <abc@x>');
  });
  test('strips each line of a multi-line reply', () => {
    assert.equal(stripExchangeBracket('535-5.7.3 a [A.B]\r\n535 5.7.3 b [A.B]'), '535-5.7.3 a\n535 5.7.3 b');
  });
  test('keeps brackets that are not the trailing server stamp', () => {
    assert.equal(stripExchangeBracket('250-host Hello [10.1.2.3]'), '250-host Hello [10.1.2.3]');
    assert.equal(stripExchangeBracket('NO [AUTHENTICATIONFAILED] Authentication failed.'), 'NO [AUTHENTICATIONFAILED] Authentication failed.');
    assert.equal(stripExchangeBracket('554 x [BeginDiagnosticData]Cannot submit'), '554 x [BeginDiagnosticData]Cannot submit');
  });
});

describe('backoff', () => {
  test('parseBackoffMs reads the suggested backoff', () => {
    assert.equal(parseBackoffMs('NO Request is throttled. Suggested Backoff Time: 299609 milliseconds'), 299609);
    assert.equal(parseBackoffMs('BAD Request is throttled. Suggested Backoff Time: 178755 milliseconds'), 178755);
    assert.equal(parseBackoffMs('NO AUTHENTICATE failed.'), undefined);
  });
  test('backoffMsForReply gives SMTP 432 a default and nothing for other replies', () => {
    assert.equal(backoffMsForReply('432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname=DM5SPR00MB2471…]'), SMTP_THREAD_LIMIT_BACKOFF_MS);
    assert.equal(backoffMsForReply('BAD Request is throttled. Suggested Backoff Time: 178755 milliseconds'), 178755);
    assert.equal(backoffMsForReply('535 5.7.3 Authentication unsuccessful'), undefined);
  });
});
