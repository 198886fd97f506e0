import type { ReasonCode } from '../core/reasons.js';
import { proxyFailureReason } from '../core/proxy.js';
import { HOSTNAME_MISMATCH_CODE, isUntrustedCertificateCode } from './tls-codes.js';

/** What is known about a failed token request; every field optional because failures differ in what they leave. */
export interface TokenErrorInput {
  httpStatus?: number;
  /** The body's `error_codes` (AADSTS numbers). Only the first one classifies. */
  errorCodes?: number[];
  /** The body's `error` (OAuth error string such as `invalid_client`). */
  error?: string;
  retryAfterSeconds?: number;
  /** A socket-level failure (`ENOTFOUND`, `ECONNREFUSED`, `ETIMEDOUT` …) or msal's `network_error`. */
  networkCode?: string;
}

// Microsoft warns that AADSTS texts change; the numbers do not (docs/exchange-online-errors.md, "Token endpoint").
const reasonByAadsts: ReadonlyMap<number, ReasonCode> = new Map<number, ReasonCode>([
  [7000215, 'token_invalid_client_secret'],
  [7000222, 'token_secret_expired'],
  [700016, 'token_unknown_app'],
  [90002, 'token_unknown_tenant'],
  [900382, 'token_wrong_cloud'],
  [90038, 'token_wrong_cloud'],
  [900440, 'token_wrong_cloud'],
  [9001023, 'token_tenant_endpoint_required'],
  [1002012, 'token_invalid_scope'],
  [70011, 'token_invalid_scope'],
  [700022, 'token_invalid_scope'],
  [500011, 'token_invalid_resource'],
  [700027, 'token_certificate_invalid'],
  [7000218, 'token_no_credential'],
  [7000112, 'token_app_disabled'],
  [53003, 'token_conditional_access'],
  // BlockedBySecurityDefaults: a policy block like 53003; whether it reaches app-only tokens is unconfirmed.
  [530035, 'token_conditional_access'],
  [90055, 'throttled'],
  // Workload identity federation: the assertion is the external token (docs/exchange-online-errors.md §10, "Federated
  // credentials"). 7002138 is 700213 matching only without case.
  [700024, 'token_assertion_expired'],
  [700211, 'token_federated_issuer_unknown'],
  [700213, 'token_federated_subject_mismatch'],
  [7002138, 'token_federated_subject_mismatch'],
  [70021, 'token_federated_no_match'],
  // A delegated sign-in that ended: 90 days unused, a Conditional Access sign-in frequency, revocation.
  [700082, 'signin_lapsed_inactive'],
  [70043, 'signin_lapsed_frequency'],
  [50173, 'signin_revoked'],
]);

export function reasonForTokenError(input: TokenErrorInput): ReasonCode {
  const code = input.errorCodes?.[0];
  const byCode = code === undefined ? undefined : reasonByAadsts.get(code);
  if (byCode) return byCode;
  if (input.httpStatus === 429 || input.error === 'temporarily_unavailable') return 'throttled';
  const proxy = input.networkCode === undefined ? undefined : proxyFailureReason(input.networkCode);
  if (proxy) return proxy;
  if (input.networkCode !== undefined && isCertificateProblem(input.networkCode)) return 'token_tls_untrusted';
  if (input.networkCode !== undefined) return 'token_endpoint_unreachable';
  if (input.httpStatus !== undefined && input.httpStatus >= 500) return 'token_endpoint_unreachable';
  return 'token_error';
}

// The login host's certificate failing to verify is almost always an intercepting proxy, not an outage:
// reporting it as "unreachable" sends people to the firewall instead of to the proxy's CA.
function isCertificateProblem(code: string): boolean {
  return isUntrustedCertificateCode(code) || code === HOSTNAME_MISMATCH_CODE;
}

/** The first `AADSTS<digits>` in a message, for errors that arrive as text only. */
export function parseAadstsCode(text: string): number | undefined {
  const match = /AADSTS(\d{4,9})\b/.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

// msal-common error codes that mean the request never got an answer from the token endpoint.
const msalNetworkCodes: ReadonlySet<string> = new Set(['network_error', 'endpoints_resolution_error', 'openid_config_error']);

function stringField(value: object, key: string): string | undefined {
  const field: unknown = Reflect.get(value, key);
  return typeof field === 'string' && field !== '' ? field : undefined;
}

function numberField(value: object, key: string): number | undefined {
  const field: unknown = Reflect.get(value, key);
  if (typeof field === 'number' && Number.isFinite(field)) return field;
  if (typeof field === 'string' && /^\d+$/.test(field)) return Number(field);
  return undefined;
}

/**
 * Reads what a thrown token error carries: msal-node's ServerError/AuthError (`errorCode`, `errorMessage`,
 * `subError`, `errorNo`, `status`) or a Node socket error (`code`). Never copies message text out.
 */
export function tokenErrorFromUnknown(err: unknown): TokenErrorInput {
  if (typeof err !== 'object' || err === null) return {};
  const input: TokenErrorInput = {};
  const errorCode = stringField(err, 'errorCode');
  const socketCode = stringField(err, 'code');
  const status = numberField(err, 'status') ?? numberField(err, 'httpStatus');
  if (status !== undefined) input.httpStatus = status;

  // msal sets errorNo to error_codes[0]; its throttling cache puts the codes into errorCode instead.
  const numbered = numberField(err, 'errorNo') ?? (errorCode && /^\d+$/.test(errorCode) ? Number(errorCode) : undefined);
  const fromText = [stringField(err, 'errorMessage'), err instanceof Error ? err.message : undefined]
    .map((text) => (text === undefined ? undefined : parseAadstsCode(text)))
    .find((code) => code !== undefined);
  const code = numbered ?? fromText;
  if (code !== undefined) input.errorCodes = [code];

  if (errorCode && !/^\d+$/.test(errorCode)) {
    if (msalNetworkCodes.has(errorCode)) input.networkCode = errorCode;
    else input.error = errorCode;
  }
  if (socketCode && /^E[A-Z_]+$/.test(socketCode)) input.networkCode = socketCode;
  // msal's network_error keeps the socket error only in its message ("Network request failed: getaddrinfo ENOTFOUND …").
  const wrapped = input.networkCode === 'network_error' ? /\b(E[A-Z]{3,}[A-Z_]*)\b/.exec(stringField(err, 'errorMessage') ?? '') : null;
  if (wrapped?.[1]) input.networkCode = wrapped[1];
  const retryAfter = numberField(err, 'retryAfterSeconds');
  if (retryAfter !== undefined) input.retryAfterSeconds = retryAfter;
  return input;
}
