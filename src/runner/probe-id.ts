import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseProbeIdKeys } from '../config/probe-id-key.js';

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
      linkSync(draft, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(draft);
    }
  }
  const parsed = parseProbeIdKeys(readFileSync(file, 'utf8'));
  if (!parsed.ok) throw new Error(`${file}: ${parsed.message}`);
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
