import type { TLSSocket } from 'node:tls';
import type { ListenerTls } from './web-config.js';

/**
 * The client-certificate rules Node's handshake cannot express by itself (exporter-toolkit's client_auth_type
 * and client_allowed_sans); undefined when the connection may go on, else why not.
 */
export function acceptsClientCertificate(socket: TLSSocket, tls: ListenerTls): string | undefined {
  const certificate = socket.getPeerCertificate();
  const presented = certificate !== null && Object.keys(certificate).length > 0;
  switch (tls.clientAuth) {
    case 'NoClientCert':
    case 'RequestClientCert':
      break;
    case 'RequireAnyClientCert':
      if (!presented) return 'no client certificate';
      break;
    case 'VerifyClientCertIfGiven':
      if (presented && !socket.authorized) return `client certificate not verified (${String(socket.authorizationError)})`;
      break;
    case 'RequireAndVerifyClientCert':
      if (!presented || !socket.authorized) return `client certificate missing or not verified (${String(socket.authorizationError ?? 'none')})`;
      break;
  }
  if (tls.allowedSans === undefined || tls.clientAuth === 'NoClientCert') return undefined;
  if (!presented || !socket.authorized) return 'no verified client certificate to match client_allowed_sans';
  const sans = (certificate.subjectaltname ?? '')
    .split(', ')
    .map((entry) => entry.replace(/^(DNS|IP Address|email|URI):/, ''))
    .filter((entry) => entry !== '');
  return sans.some((san) => tls.allowedSans?.includes(san)) ? undefined : 'client certificate has none of client_allowed_sans';
}
