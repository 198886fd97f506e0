import { randomBytes, randomUUID } from 'node:crypto';

// Entra's delegated grants as a monitor on a user's sign-in meets them: the device-code flow (a person enters a
// code), then refresh-token redemption, each answer carrying a new refresh token. What ends a grant, with the
// texts of docs/exchange-online-errors.md §10 ("Delegated"): 90 days without use of a refresh token (AADSTS700082),
// a Conditional Access sign-in frequency (AADSTS70043, the limit in seconds), revocation (AADSTS50173).

export const INACTIVITY_MS = 90 * 86_400_000;
const DEVICE_CODE_LIFETIME_S = 900;
const POLL_INTERVAL_S = 5;

export interface DeviceCodeRecord {
  deviceCode: string;
  userCode: string;
  tenantId: string;
  clientId: string;
  scopes: string[];
  expiresAt: number;
  /** Set when the person signed in and consented. */
  approvedBy?: string;
}

export interface GrantRecord {
  tenantId: string;
  clientId: string;
  user: string;
  scopes: string[];
  /** When the person signed in: what sign-in frequency and revocation are measured against. */
  signedInAt: number;
  /** When this refresh token was issued: inactivity is measured from here. */
  issuedAt: number;
}

/** Why a refresh token is refused, or undefined when it may be redeemed. */
export type GrantRefusal = { code: 700082 | 70043 | 50173 | 9002313; text: string };

function iso(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class DelegatedGrants {
  readonly #deviceCodes = new Map<string, DeviceCodeRecord>();
  readonly #refreshTokens = new Map<string, GrantRecord>();
  /** Per user (lowercased): tokens of sign-ins before this are revoked (Revoke-MgUserSignInSession). */
  readonly #validFrom = new Map<string, number>();
  /** Conditional Access sign-in frequency per user, seconds. */
  readonly #signInFrequency = new Map<string, number>();
  /** Per tenant and app (the demo's): the person who signs in as soon as a device code is shown. */
  readonly #automatic = new Map<string, string>();

  /** The demo plays the person at the browser: every device code of this app is approved at once as `user`. */
  approveAutomatically(tenantId: string, clientId: string, user: string): void {
    this.#automatic.set(`${tenantId}\u0000${clientId}`, user);
  }

  startDeviceCode(tenantId: string, clientId: string, scopes: string[], now: number): DeviceCodeRecord & { interval: number; expiresIn: number } {
    const record: DeviceCodeRecord = {
      deviceCode: randomBytes(32).toString('base64url'),
      userCode: randomBytes(5).toString('hex').toUpperCase().slice(0, 9),
      tenantId,
      clientId,
      scopes,
      expiresAt: now + DEVICE_CODE_LIFETIME_S * 1000,
    };
    const automatic = this.#automatic.get(`${tenantId}\u0000${clientId}`);
    if (automatic !== undefined) record.approvedBy = automatic;
    this.#deviceCodes.set(record.deviceCode, record);
    return { ...record, interval: POLL_INTERVAL_S, expiresIn: DEVICE_CODE_LIFETIME_S };
  }

  /** The person at the browser: enters the code and signs in as `user`. */
  approve(userCode: string, user: string): void {
    const record = [...this.#deviceCodes.values()].find((candidate) => candidate.userCode === userCode);
    if (!record) throw new Error(`unknown user code ${userCode}`);
    record.approvedBy = user;
  }

  deviceCode(deviceCode: string): DeviceCodeRecord | undefined {
    return this.#deviceCodes.get(deviceCode);
  }

  /** Redeems an approved device code once; returns the new grant's first refresh token. */
  completeDeviceCode(record: DeviceCodeRecord, now: number): { refreshToken: string; grant: GrantRecord } {
    this.#deviceCodes.delete(record.deviceCode);
    const grant: GrantRecord = {
      tenantId: record.tenantId,
      clientId: record.clientId,
      user: record.approvedBy ?? '',
      scopes: record.scopes,
      signedInAt: now,
      issuedAt: now,
    };
    return { refreshToken: this.#issue(grant), grant };
  }

  /** Entra's verdict on a refresh token, checked: unknown, revoked, sign-in frequency, inactivity. */
  refusal(refreshToken: string, now: number): GrantRefusal | undefined {
    const grant = this.#refreshTokens.get(refreshToken);
    if (!grant) return { code: 9002313, text: 'Invalid request. Request is malformed or invalid.' };
    const validFrom = this.#validFrom.get(grant.user.toLowerCase());
    if (validFrom !== undefined && grant.signedInAt < validFrom) {
      return { code: 50173, text: 'The provided grant has expired due to it being revoked, a fresh auth token is needed.' };
    }
    const frequency = this.#signInFrequency.get(grant.user.toLowerCase());
    if (frequency !== undefined && now - grant.signedInAt > frequency * 1000) {
      return {
        code: 70043,
        text: `The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. The token was issued on ${iso(grant.signedInAt)} and the maximum allowed lifetime for this request is ${frequency}.`,
      };
    }
    if (now - grant.issuedAt > INACTIVITY_MS) {
      return {
        code: 700082,
        text: `The refresh token has expired due to inactivity. The token was issued on ${iso(grant.issuedAt)} and was inactive for 90.00:00:00.`,
      };
    }
    return undefined;
  }

  /** Redeems a refresh token: the same sign-in, a new refresh token (rotation; the old one stays valid, as with Entra). */
  redeem(refreshToken: string, now: number): { refreshToken: string; grant: GrantRecord } {
    const grant = this.#refreshTokens.get(refreshToken);
    if (!grant) throw new Error('redeem() after refusal() found none');
    const next: GrantRecord = { ...grant, issuedAt: now };
    return { refreshToken: this.#issue(next), grant: next };
  }

  /** Every sign-in of the user so far stops working (revokeSignInSessions, a password reset). */
  revoke(user: string, now: number): void {
    this.#validFrom.set(user.toLowerCase(), now + 1);
  }

  setSignInFrequency(user: string, seconds: number | null): void {
    if (seconds === null) this.#signInFrequency.delete(user.toLowerCase());
    else this.#signInFrequency.set(user.toLowerCase(), seconds);
  }

  #issue(grant: GrantRecord): string {
    // Entra's refresh tokens are opaque, not JWTs; this shape keeps them unmistakable in a leak test.
    const token = `1.${randomUUID()}.${randomBytes(48).toString('base64url')}`;
    this.#refreshTokens.set(token, grant);
    return token;
  }
}
