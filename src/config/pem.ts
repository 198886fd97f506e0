import { createPrivateKey, X509Certificate } from 'node:crypto';

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Why a CA file's text is no use as trusted certificates, or undefined. Node would otherwise take a file of
 * anything and fail every connection later with an untrusted-certificate error that hides the typo.
 */
export function caFileProblem(text: string): string | undefined {
  const blocks = text.match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0) return 'not a PEM certificate file: no "-----BEGIN CERTIFICATE-----" block';
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      return `certificate ${index + 1} of the file does not parse as X.509`;
    }
  }
  return undefined;
}

export type PairProblem = { field: 'certFile' | 'keyFile'; message: string };

/**
 * Why a certificate credential's two files do not make a credential, or undefined. An encrypted key is checked
 * only by the token request (its passphrase may live in the agent's environment alone).
 */
export function certificatePairProblem(certPem: string, keyPem: string): PairProblem | undefined {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch {
    return { field: 'certFile', message: 'not a PEM certificate' };
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(keyPem)) return undefined;
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    return { field: 'keyFile', message: 'not a PEM private key' };
  }
  if (!certificate.checkPrivateKey(key)) {
    return { field: 'keyFile', message: 'this private key does not belong to the certificate in certFile (their public keys differ)' };
  }
  return undefined;
}
