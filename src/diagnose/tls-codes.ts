// Node's codes for a certificate chain that does not verify. The same codes mean the same thing on the way to
// a mail server and to the login host, so probes and the token classifier share this one list.
const UNTRUSTED_CERTIFICATE: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
]);

export function isUntrustedCertificateCode(code: string): boolean {
  return UNTRUSTED_CERTIFICATE.has(code);
}

/** The certificate verified but names another host: what an intercepting proxy with its own name shows. */
export const HOSTNAME_MISMATCH_CODE = 'ERR_TLS_CERT_ALTNAME_INVALID';
