import { causeProtocol, isProtocolCause, type Cause, type ProtocolCause } from '../core/cause.js';
import { PROTOCOL } from '../core/protocols.js';
import type { ReasonCode } from '../core/reasons.js';

// What a failure means, for people outside the ops team: the public status page and its feeds show these.
// They name no tenant, app, mailbox or server and quote no server text, so they are safe to publish; the
// remediation (remediation.ts) holds the specifics and the fix for the protected detail view.
export const PLAIN_WORDS: Record<ReasonCode, string> = {
  config_invalid: 'The monitor is not configured correctly.',
  credential_missing: 'The monitor has no usable sign-in credential.',

  token_invalid_client_secret: 'Microsoft 365 refused the sign-in: the app’s secret is wrong.',
  token_secret_expired: 'Microsoft 365 refused the sign-in: the app’s secret has expired.',
  token_unknown_app: 'Microsoft 365 refused the sign-in: it does not know the app.',
  token_unknown_tenant: 'Microsoft 365 refused the sign-in: it does not know the organisation.',
  token_wrong_cloud: 'Microsoft 365 refused the sign-in: the app signs in to the wrong Microsoft cloud.',
  token_tenant_endpoint_required: 'Microsoft 365 refused the sign-in: the app must sign in to its own organisation.',
  token_invalid_scope: 'Microsoft 365 refused the sign-in: the app asked for the wrong permission scope.',
  token_invalid_resource: 'Microsoft 365 refused the sign-in: the app asked for a service it may not use.',
  token_certificate_invalid: 'Microsoft 365 refused the sign-in: the app’s certificate is not accepted.',
  token_no_credential: 'Microsoft 365 refused the sign-in: the app has no credential.',
  token_app_disabled: 'Microsoft 365 refused the sign-in: the app is disabled.',
  token_conditional_access: 'Microsoft 365 refused the sign-in: a Conditional Access policy blocks the app.',
  token_assertion_expired: 'Microsoft 365 refused the sign-in: the monitor’s workload identity token had expired.',
  token_federated_issuer_unknown: 'Microsoft 365 refused the sign-in: the app does not trust the monitor’s workload identity.',
  token_federated_subject_mismatch: 'Microsoft 365 refused the sign-in: the app does not trust the monitor’s workload identity.',
  token_federated_audience_mismatch: 'Microsoft 365 refused the sign-in: the monitor’s workload identity token is for a different audience.',
  token_federated_no_match: 'Microsoft 365 refused the sign-in: the app does not trust the monitor’s workload identity.',
  managed_identity_unavailable: 'The monitor’s managed identity could not be used to sign in.',
  token_endpoint_unreachable: 'The Microsoft sign-in service cannot be reached.',
  token_tls_untrusted: 'The Microsoft sign-in service’s certificate is not trusted.',
  token_error: 'Signing in to Microsoft 365 failed.',

  role_missing: 'The app has no permission for this mail protocol on this mailbox (no admin consent, and no Exchange grant either).',
  token_wrong_audience: 'The app’s sign-in is for a different service than Exchange Online.',
  token_wrong_tenant: 'The app signed in to a different organisation than the mailbox’s.',
  token_expired: 'The app’s sign-in had already expired.',

  connect_refused: 'The mail server refuses connections.',
  connect_dns: 'The mail server’s name cannot be resolved.',
  connection_reset: 'The mail server drops the connection.',
  tls_untrusted: 'The mail server’s certificate is not trusted.',
  tls_hostname_mismatch: 'The mail server’s certificate is for a different name.',
  tls_handshake_failed: 'A secure connection to the mail server cannot be set up.',
  tls_version_rejected: 'The mail server and the monitor share no TLS version.',
  starttls_unavailable: 'The mail server does not offer an encrypted connection.',
  xoauth2_not_offered: 'The mail server does not offer OAuth sign-in.',
  timeout: 'The mail server did not answer in time.',

  auth_failed: 'The mail server refused the app’s sign-in to the mailbox.',
  auth_not_connected: 'The mail server closed the session during sign-in.',
  auth_mechanism_rejected: 'The mail server does not accept OAuth sign-in here.',
  basic_auth_rejected: 'The mail server rejected the sign-in method.',
  smtp_auth_disabled_tenant: 'Sending with SMTP AUTH is turned off for the organisation.',
  smtp_auth_disabled_mailbox: 'Sending with SMTP AUTH is turned off for the mailbox.',
  smtp_auth_policy_blocked: 'A security policy blocks sending with SMTP AUTH.',
  invalid_user: 'The mailbox does not exist or cannot be used.',

  list_failed: 'The mailbox’s folders cannot be listed.',
  not_authenticated: 'The mail server forgot the sign-in during the session.',
  send_as_denied: 'The app may not send as this mailbox.',
  mailbox_logon_failed: 'The mailbox cannot be opened.',
  submission_quota_exceeded: 'The mailbox has reached its sending limit.',
  mailbox_full: 'The mailbox is full.',
  sender_restricted: 'The mailbox is blocked from sending.',
  send_rejected: 'The mail server rejected the test message.',
  delivery_timeout: 'The test message was sent but did not arrive in time.',
  cleanup_failed: 'Old test messages could not be removed.',
  send_budget_exhausted: 'The monitor held back a test message to stay within its sending budget.',
  tenant_external_limit: 'The organisation reached its daily limit for mail to outside recipients; every mailbox is blocked until it resets.',
  hve_external_recipient: 'A High Volume Email account tried to send outside the organisation, which it cannot.',

  throttled: 'Microsoft 365 asked the monitor to slow down.',
  server_unavailable: 'The mail service is temporarily unavailable.',
  protocol_error: 'The mail server gave an unexpected answer.',
  internal_error: 'The monitor itself hit an internal error.',
};

const CAUSE_WORDS: Record<Exclude<Cause, ProtocolCause>, string> = {
  identity: 'The app cannot sign in to Microsoft 365 for any of its checks: the problem is its sign-in (app, credential or consent).',
  smtp_auth_gate: 'Sending with SMTP AUTH is turned off or blocked by a policy: the problem is that setting, not the mailbox.',
  mailbox: 'The problem is the mailbox itself: it is missing, full, blocked, or refuses every way in.',
  mail_flow: 'Test messages are accepted but do not arrive: the problem is mail flow.',
  service: 'Microsoft 365 cannot be reached, here and for other organisations: the problem is the service.',
  unknown: 'The checks configured cannot tell where the problem lies.',
};

/** What a monitor's cause means, for the public page: names no tenant, app or mailbox. */
export function plainCause(cause: Cause): string {
  if (!isProtocolCause(cause)) return CAUSE_WORDS[cause];
  const label = PROTOCOL[causeProtocol(cause)].label;
  return `${label} is refused while other ways into the same mailbox work: the problem is the ${label} path.`;
}
