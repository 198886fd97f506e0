export interface TlsSettings {
  /** Extra trusted CA certificates (PEM), added to Node's default store. */
  ca?: string[];
  /** false only when the operator explicitly chose it; the config loader warns. */
  rejectUnauthorized: boolean;
}

export interface Endpoint {
  host: string;
  port: number;
  tls: TlsSettings;
  /** IMAP only: ENABLE IMAP4rev2 (with CONDSTORE, UTF8=ACCEPT) when the server offers it. Absent: never. */
  imap4rev2?: boolean;
  /** The application role Exchange expects here instead of the protocol's (High Volume Email: Mail.Send). */
  role?: string;
  /** Outbound proxy as configured (an http:// URL or "direct"); absent: ALL_PROXY and NO_PROXY decide (src/config/proxy.ts). */
  proxy?: string;
  /** SMTP only: where the probe message goes instead of the mailbox itself (a High Volume Email account's internal recipient). */
  recipient?: string;
}
