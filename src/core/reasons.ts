// The closed set of failure reasons, each with the category alert rules route on. Metric labels, alert rules and
// dashboards key on these strings, so a value is never renamed once released, and free text never becomes a reason.
// A new reason is one line here; the compiler then asks every exhaustive table for it.
// signin: a delegated monitor's user must sign in again — the person's grant lapsed, not the mail service.
export type ReasonCategory = 'config' | 'token' | 'signin' | 'auth' | 'transport' | 'mailbox' | 'delivery' | 'server';

export const REASON_CATEGORY = {
  // configuration and credentials, found before any network step
  config_invalid: 'config',
  credential_missing: 'config',
  // token endpoint (classified on AADSTS error_codes[0])
  token_invalid_client_secret: 'token',
  token_secret_expired: 'token',
  token_unknown_app: 'token',
  token_unknown_tenant: 'token',
  token_wrong_cloud: 'token',
  token_tenant_endpoint_required: 'token',
  token_invalid_scope: 'token',
  token_invalid_resource: 'token',
  token_certificate_invalid: 'token',
  token_no_credential: 'token',
  token_app_disabled: 'token',
  token_conditional_access: 'token',
  token_assertion_expired: 'token',
  token_federated_issuer_unknown: 'token',
  token_federated_subject_mismatch: 'token',
  token_federated_audience_mismatch: 'token',
  token_federated_no_match: 'token',
  managed_identity_unavailable: 'token',
  // a delegated monitor's sign-in ended (docs/exchange-online-errors.md §10, "Delegated"): someone runs `mailprobe login`
  signin_lapsed_inactive: 'signin',
  signin_lapsed_frequency: 'signin',
  signin_revoked: 'signin',
  signin_required: 'signin',
  token_endpoint_unreachable: 'transport',
  token_tls_untrusted: 'transport',
  token_error: 'token',
  // what the token itself shows, checked before touching a mail server
  role_missing: 'token',
  token_wrong_audience: 'token',
  token_wrong_tenant: 'token',
  token_expired: 'token',
  // transport
  connect_refused: 'transport',
  connect_dns: 'transport',
  connection_reset: 'transport',
  tls_untrusted: 'transport',
  tls_hostname_mismatch: 'transport',
  tls_handshake_failed: 'transport',
  tls_version_rejected: 'transport',
  starttls_unavailable: 'transport',
  xoauth2_not_offered: 'auth',
  timeout: 'transport',
  // the outbound proxy's own failures (src/core/proxy.ts), apart from the server's behind it
  proxy_unreachable: 'transport',
  proxy_refused: 'transport',
  proxy_auth_required: 'transport',
  proxy_timeout: 'transport',
  proxy_protocol_error: 'transport',
  // authentication and session
  auth_failed: 'auth',
  auth_not_connected: 'auth',
  auth_mechanism_rejected: 'auth',
  basic_auth_rejected: 'auth',
  smtp_auth_disabled_tenant: 'auth',
  smtp_auth_disabled_mailbox: 'auth',
  smtp_auth_policy_blocked: 'auth',
  invalid_user: 'auth',
  // mailbox operations and submission
  list_failed: 'mailbox',
  not_authenticated: 'auth',
  send_as_denied: 'auth',
  mailbox_logon_failed: 'auth',
  // Microsoft Graph: Exchange keeps the app out of the mailbox (an application access policy, "Access to OData is disabled.")
  graph_access_blocked: 'auth',
  // Microsoft Graph cannot reach the mailbox (unlicensed, on-premises or not provisioned: MailboxNotEnabledForRESTAPI)
  mailbox_not_enabled_for_rest: 'mailbox',
  submission_quota_exceeded: 'mailbox',
  mailbox_full: 'mailbox',
  sender_restricted: 'mailbox',
  send_rejected: 'mailbox',
  delivery_timeout: 'delivery',
  cleanup_failed: 'delivery',
  send_budget_exhausted: 'mailbox',
  // the tenant's daily limit for external recipients: a tenant-wide block, reported once per tenant
  tenant_external_limit: 'mailbox',
  // a High Volume Email account sent to a recipient outside the tenant (HVE sends internally only)
  hve_external_recipient: 'config',
  // server state
  throttled: 'server',
  server_unavailable: 'server',
  protocol_error: 'server',
  internal_error: 'server',
} as const satisfies Record<string, ReasonCategory>;

export type ReasonCode = keyof typeof REASON_CATEGORY;

// Declaration order is kept: it is the order of metric series and of documentation tables.
export const REASONS = Object.keys(REASON_CATEGORY) as readonly ReasonCode[] as readonly [ReasonCode, ...ReasonCode[]];

export function isReasonCode(value: string): value is ReasonCode {
  return Object.hasOwn(REASON_CATEGORY, value);
}

export function reasonCategory(reason: ReasonCode): ReasonCategory {
  return REASON_CATEGORY[reason];
}

// Reasons that block the whole tenant rather than one mailbox: every mailbox of the tenant fails with them at
// once, so alerting tells them once per (tenant, reason), listing the mailboxes, instead of once per check. A
// delegated tenant entry is one person's sign-in: when it lapses, every check of every monitor on it fails with the
// same signin_* reason, and a short sign-in frequency lapses often, so each lapse is one alert, not one per check.
const TENANT_WIDE: ReadonlySet<ReasonCode> = new Set<ReasonCode>([
  'tenant_external_limit',
  'signin_lapsed_inactive',
  'signin_lapsed_frequency',
  'signin_revoked',
  'signin_required',
]);

export function isTenantWide(reason: ReasonCode): boolean {
  return TENANT_WIDE.has(reason);
}
