import { X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';

export interface Pem {
  cert: string;
  key: string;
}

/** A throwaway CA and a server certificate it signed, for TLS between tests and sandbox servers. */
export interface TestPki {
  ca: Pem;
  server: Pem;
}

/** A certificate credential as an app registration holds it: the PEM pair plus what Entra shows of it. */
export interface CertificateCredential extends Pem {
  /** Uppercase hex SHA-1 of the DER, as Entra's "Thumbprint" column and the x5t header carry it. */
  thumbprint: string;
  /** Uppercase hex SHA-256 of the DER (x5t#S256). */
  thumbprintSha256: string;
  notAfter: Date;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const DEFAULT_VALID_DAYS = 30;

function validity(validDays: number | undefined, notBefore?: Date): { notBeforeDate: Date; notAfterDate: Date } {
  // Backdate a minute so a freshly made certificate is not "not yet valid" on a peer with a slightly slow clock.
  const start = notBefore ?? new Date(Date.now() - 60_000);
  return { notBeforeDate: start, notAfterDate: new Date(start.getTime() + (validDays ?? DEFAULT_VALID_DAYS) * DAY_MS) };
}

function isIpAddress(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(':');
}

export async function createPki(options: { hostnames?: string[]; validDays?: number } = {}): Promise<TestPki> {
  const dates = validity(options.validDays);
  const caResult = await generate([{ name: 'commonName', value: 'mailprobe sandbox test CA' }], {
    ...dates,
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const ca: Pem = { cert: caResult.cert, key: caResult.private };

  const names = [...new Set(['localhost', '127.0.0.1', ...(options.hostnames ?? [])])];
  const server = await signedLeaf(ca, 'localhost', dates, { serverAuth: true }, names);
  return { ca, server };
}

/** A leaf signed by `ca` for one use (server or client TLS), valid for `names` (DNS names or IP addresses). */
async function signedLeaf(
  ca: Pem,
  commonName: string,
  dates: ReturnType<typeof validity>,
  use: { serverAuth: true } | { clientAuth: true },
  names: string[],
): Promise<Pem> {
  const result = await generate([{ name: 'commonName', value: commonName }], {
    ...dates,
    keySize: 2048,
    algorithm: 'sha256',
    ca: { cert: ca.cert, key: ca.key },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', ...use },
      { name: 'subjectAltName', altNames: names.map((name) => (isIpAddress(name) ? { type: 7, ip: name } : { type: 2, value: name })) },
    ],
  });
  return { cert: result.cert, key: result.private };
}

/** A self-signed leaf: a client that does not hold exactly this certificate as a CA must reject it. */
export async function createSelfSigned(commonName: string, options: { validDays?: number; notBefore?: Date } = {}): Promise<Pem> {
  const result = await generate([{ name: 'commonName', value: commonName }], {
    ...validity(options.validDays, options.notBefore),
    keySize: 2048,
    algorithm: 'sha256',
  });
  return { cert: result.cert, key: result.private };
}

export async function createCertificateCredential(commonName: string, options: { validDays?: number; notBefore?: Date } = {}): Promise<CertificateCredential> {
  const pem = await createSelfSigned(commonName, options);
  const x509 = new X509Certificate(pem.cert);
  return {
    ...pem,
    thumbprint: certificateThumbprint(pem.cert),
    thumbprintSha256: x509.fingerprint256.replaceAll(':', '').toUpperCase(),
    notAfter: new Date(x509.validTo),
  };
}

export function certificateThumbprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint.replaceAll(':', '').toUpperCase();
}

/** A client certificate signed by the PKI's CA, for mutual TLS against the agent's listener. */
export function createClientCertificate(ca: Pem, commonName: string, options: { validDays?: number } = {}): Promise<Pem> {
  return signedLeaf(ca, commonName, validity(options.validDays), { clientAuth: true }, [commonName]);
}
