import { REDACTION_MASK, Secret } from '../core/secret.js';
import type { Transcript } from './types.js';

/** The SASL XOAUTH2 initial response, base64("user=" + mailbox + "\x01auth=Bearer " + token + "\x01\x01"). */
export function buildXOAuth2(mailbox: string, token: Secret): Secret {
  return new Secret(Buffer.from(xoauth2Plain(mailbox, token), 'utf8').toString('base64'));
}

function xoauth2Plain(mailbox: string, token: Secret): string {
  return `user=${mailbox}\x01auth=Bearer ${token.reveal()}\x01\x01`;
}

/**
 * Masks the credential in every form a session could echo it (the token, the decoded and the
 * encoded XOAUTH2 string) in whatever text leaves a probe. Libraries mask their own auth lines;
 * this is the net under them.
 */
export class CredentialMask {
  readonly #values: string[];

  constructor(mailbox: string, token: Secret) {
    this.#values = [buildXOAuth2(mailbox, token).reveal(), xoauth2Plain(mailbox, token), token.reveal()]
      .filter((value) => value.length > 0)
      .sort((a, b) => b.length - a.length);
  }

  text(text: string): string {
    let out = text;
    for (const value of this.#values) out = out.split(value).join(REDACTION_MASK);
    return out;
  }

  /** A transcript that masks the credential, and with `clientLine` also a protocol's own auth lines. */
  transcript(inner: Transcript, clientLine: (line: string) => string = (line) => line): Transcript {
    return {
      client: (line) => inner.client(this.text(clientLine(line))),
      server: (line) => inner.server(this.text(line)),
      note: (line) => inner.note(this.text(line)),
    };
  }
}
