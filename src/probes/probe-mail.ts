import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseProbeIdKeys } from '../config/probe-id-key.js';
import { syncFileAndFolder } from '../files/durable-file.js';

// Probe mail, in one place: the id a probe message carries (its format, signature and issue time), the headers it is
// recognised by, and the verification a message must pass before cleanup may delete it. The probes that send
// (smtp, roundtrip) and sweep (cleanup) use it; the runner holds the keyring.

/**
 * Probe ids are `<time36>.<random>.<mac>`: the issue time (epoch ms, base 36), 16 random hex digits and 32 hex
 * digits of HMAC-SHA256 over monitor name, time and random, under a key only this agent holds. Cleanup deletes a
 * message only when its id verifies for the monitor doing the cleanup, so a forged id, one copied into another
 * message's header by hand, or one another monitor issued never does.
 *
 * The key lives in a small file in the agent's state folder rather than being derived from the app's client
 * secret: it survives secret rotation (probe messages sent before a rotation still verify and get swept), it
 * works for certificate credentials, and replicas share it by sharing the file. The file holds one key per line;
 * the first issues, all verify, so a key can be rotated by prepending a new line.
 */
const ID_SHAPE = /^([0-9a-z]{1,11})\.([0-9a-f]{16})\.([0-9a-f]{32})$/;

export class ProbeIdKeyring {
  readonly #keys: readonly Buffer[];

  constructor(keys: readonly Buffer[]) {
    if (keys.length === 0) throw new Error('a probe-id keyring needs at least one key');
    this.#keys = keys;
  }

  /** A fresh id for a message `monitor` sends at `now`; unique, time-sortable, safe in a Message-ID. */
  issue(monitor: string, now: number): string {
    const time = Math.max(0, Math.floor(now)).toString(36);
    const random = randomBytes(8).toString('hex');
    return `${time}.${random}.${mac(this.#keys[0]!, monitor, time, random)}`;
  }

  /** True only for an id this agent issued for `monitor` (under any key in the ring). */
  verify(id: string, monitor: string): boolean {
    const parts = ID_SHAPE.exec(id);
    if (!parts) return false;
    const [, time, random, given] = parts as unknown as [string, string, string, string];
    const expected = Buffer.from(given, 'hex');
    return this.#keys.some((key) => timingSafeEqual(Buffer.from(mac(key, monitor, time, random), 'hex'), expected));
  }
}

function mac(key: Buffer, monitor: string, time: string, random: string): string {
  return createHmac('sha256', key).update(`mailprobe-probe-id\u0000${monitor}\u0000${time}\u0000${random}`).digest('hex').slice(0, 32);
}

/** When an id of the probe-id shape says it was issued (epoch ms); undefined for anything else. Not proof of origin. */
export function probeIdIssuedAt(id: string): number | undefined {
  const parts = ID_SHAPE.exec(id);
  if (!parts) return undefined;
  const time = parseInt(parts[1]!, 36);
  return Number.isSafeInteger(time) ? time : undefined;
}

/**
 * Reads the keyring at `file`, creating it (mode 0600, folder 0700) with one random key when it does not exist.
 * Two processes starting together both end up with the one key that was linked into place first.
 */
export function loadProbeIdKeyring(file: string): ProbeIdKeyring {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  if (!existsSync(file)) {
    // Written aside and linked into place, so a reader never sees a half-written file.
    const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(draft, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      // On disk before it is linked: a key lost to a power cut would orphan every probe message signed with it.
      syncFileAndFolder(draft);
      linkSync(draft, file);
      syncFileAndFolder(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(draft);
    }
  }
  const parsed = parseProbeIdKeys(readFileSync(file, 'utf8'));
  // The key cannot be recreated without orphaning the probe mail it signed, so it is never replaced here.
  if (!parsed.ok) {
    throw new Error(
      `${file}: ${parsed.message}; restore it from a replica or a backup, or delete it to have a new key made (probe messages signed with the old key are then left in the mailbox for you to delete)`,
    );
  }
  return new ProbeIdKeyring(parsed.keys);
}

/** One keyring per file for the life of the process, read (or created) on first use. */
export function probeIdKeyrings(): (file: string) => ProbeIdKeyring {
  const rings = new Map<string, ProbeIdKeyring>();
  return (file) => {
    let ring = rings.get(file);
    if (!ring) {
      ring = loadProbeIdKeyring(file);
      rings.set(file, ring);
    }
    return ring;
  };
}

/** A probe message's Message-ID follows from its id, so cleanup tells the probe itself from a message that copied the id header. */
export function probeMessageId(probeId: string): string {
  return `<mailprobe.${probeId}@mailprobe.invalid>`;
}

export const PROBE_ID_HEADER = 'X-Mailprobe-Id';

/** What the runner tells the sending checks about probe mail of the monitor they run for. */
export interface ProbeMailPolicy {
  /** false: nothing is ever deleted. */
  cleanup: boolean;
  /** Besides the check's own message, delete this monitor's older probe messages in every probe folder. */
  sweep: boolean;
  /**
   * Own messages younger than this stay: a roundtrip of the same monitor (another check, `mailprobe check`, a
   * replica) may still be waiting for one. The runner sets it to the longest a check of the monitor can last.
   */
  sweepMinAgeMs: number;
  /** True only for an id this agent issued for this monitor (the id's HMAC verifies). */
  isOwn(id: string): boolean;
  roundtrip: { deadlineMs: number; pollMs: number };
}

/** The header fields a probe message is recognised by, unfolded; every occurrence kept. */
export function headerFields(block: Buffer | undefined, wanted: readonly string[]): Map<string, string[]> {
  const fields = new Map<string, string[]>(wanted.map((name) => [name.toLowerCase(), []]));
  const text = (block?.toString('latin1') ?? '').replace(/\r?\n[ \t]+/g, ' ');
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    fields.get(line.slice(0, colon).trim().toLowerCase())?.push(line.slice(colon + 1).trim());
  }
  return fields;
}

/**
 * Decides on one message's headers whether cleanup may delete it: exactly one X-Mailprobe-Id that verifies as
 * this monitor's, a Message-ID that is the probe's own for that id, and either one of `exact` or older than the
 * policy's minimum age. Anything else (a forged, foreign or other monitor's id, a copied id in a message that is
 * not the probe, two ids) is left alone.
 */
export function isDeletableProbeMail(
  headers: Buffer | undefined,
  policy: Pick<ProbeMailPolicy, 'isOwn' | 'sweepMinAgeMs'>,
  exact: ReadonlySet<string>,
  now: number,
): boolean {
  const fields = headerFields(headers, [PROBE_ID_HEADER, 'Message-ID']);
  const ids = fields.get(PROBE_ID_HEADER.toLowerCase()) ?? [];
  const messageIds = fields.get('message-id') ?? [];
  const id = ids[0];
  if (ids.length !== 1 || id === undefined || !policy.isOwn(id)) return false;
  if (messageIds.length !== 1 || messageIds[0] !== probeMessageId(id)) return false;
  if (exact.has(id)) return true;
  const issuedAt = probeIdIssuedAt(id);
  return issuedAt !== undefined && now - issuedAt >= policy.sweepMinAgeMs;
}

/** Without the runner's policy (a probe run by hand): wait as long as the default, delete only the own message. */
export function handRunPolicy(probeId: string): ProbeMailPolicy {
  return {
    cleanup: true,
    sweep: false,
    sweepMinAgeMs: Number.POSITIVE_INFINITY,
    isOwn: (id) => id === probeId,
    roundtrip: { deadlineMs: 300_000, pollMs: 5_000 },
  };
}
