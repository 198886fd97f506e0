// The closed set of failure reasons. Metric labels, alert rules and dashboards key on these strings,
// so a value is never renamed once released, and free text never becomes a reason.
export const REASONS = [
  // configuration and credentials, found before any network step
  'config_invalid',
  'credential_missing',
  // token endpoint (classified on AADSTS error_codes[0])
  'token_invalid_client_secret',
  'token_secret_expired',
  'token_unknown_app',
  'token_unknown_tenant',
  'token_wrong_cloud',
  'token_tenant_endpoint_required',
  'token_invalid_scope',
  'token_invalid_resource',
  'token_certificate_invalid',
  'token_no_credential',
  'token_app_disabled',
  'token_conditional_access',
  'token_endpoint_unreachable',
  'token_tls_untrusted',
  'token_error',
  // what the token itself shows, checked before touching a mail server
  'role_missing',
  'token_wrong_audience',
  'token_wrong_tenant',
  'token_expired',
  // transport
  'connect_refused',
  'connect_dns',
  'connection_reset',
  'tls_untrusted',
  'tls_hostname_mismatch',
  'tls_handshake_failed',
  'tls_version_rejected',
  'starttls_unavailable',
  'xoauth2_not_offered',
  'timeout',
  // authentication and session
  'auth_failed',
  'auth_not_connected',
  'auth_mechanism_rejected',
  'basic_auth_rejected',
  'smtp_auth_disabled_tenant',
  'smtp_auth_disabled_mailbox',
  'smtp_auth_policy_blocked',
  'invalid_user',
  // mailbox operations and submission
  'list_failed',
  'not_authenticated',
  'send_as_denied',
  'mailbox_logon_failed',
  'submission_quota_exceeded',
  'mailbox_full',
  'sender_restricted',
  'send_rejected',
  'delivery_timeout',
  'cleanup_failed',
  'send_budget_exhausted',
  // server state
  'throttled',
  'server_unavailable',
  'protocol_error',
  'internal_error',
] as const;

export type ReasonCode = (typeof REASONS)[number];

const reasonSet: ReadonlySet<string> = new Set(REASONS);

export function isReasonCode(value: string): value is ReasonCode {
  return reasonSet.has(value);
}

// Alert rules route on the category, so a new reason only needs a line here to page the right people.
export type ReasonCategory = 'config' | 'token' | 'auth' | 'transport' | 'mailbox' | 'delivery' | 'server';

const categoryByPrefix: ReadonlyArray<readonly [string, ReasonCategory]> = [
  ['config_', 'config'],
  ['credential_', 'config'],
  ['token_endpoint_unreachable', 'transport'],
  ['token_tls_untrusted', 'transport'],
  ['token_', 'token'],
  ['role_missing', 'token'],
  ['auth_', 'auth'],
  ['basic_auth_rejected', 'auth'],
  ['smtp_auth_', 'auth'],
  ['invalid_user', 'auth'],
  ['xoauth2_not_offered', 'auth'],
  ['not_authenticated', 'auth'],
  ['connect_', 'transport'],
  ['connection_', 'transport'],
  ['tls_', 'transport'],
  ['starttls_', 'transport'],
  ['timeout', 'transport'],
  ['delivery_', 'delivery'],
  ['cleanup_', 'delivery'],
  ['send_as_denied', 'auth'],
  ['mailbox_logon_failed', 'auth'],
];

export function reasonCategory(reason: ReasonCode): ReasonCategory {
  for (const [prefix, category] of categoryByPrefix) {
    if (reason.startsWith(prefix)) return category;
  }
  if (reason === 'list_failed' || reason === 'send_rejected' || reason === 'mailbox_full' || reason === 'sender_restricted' || reason === 'submission_quota_exceeded' || reason === 'send_budget_exhausted') return 'mailbox';
  return 'server';
}
