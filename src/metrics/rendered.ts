import { familyHeader, type FamilyType } from './exposition.js';

/** A series set whose exposition text is kept rendered, so a scrape copies bytes instead of formatting numbers. */
export interface Rendered {
  /**
   * All of the set's samples in one exactly-sized buffer, family after family; `offsets[i]` is where family i
   * starts. One unpooled buffer each, because pooled small Buffers pin whole 8 KB slabs and concatenated strings
   * stay as rope trees — either doubled resident memory at 10,000 monitors.
   */
  rendered: Buffer;
  offsets: number[];
  samples: number;
}

export interface Family<T> {
  name: string;
  type: FamilyType;
  help: string;
  /** Left out when the agent exports basic metrics only. */
  fullOnly?: boolean;
  /** The family's sample lines for one entry, or '' when it has none. */
  render(entry: T): string;
}

export const NOTHING_RENDERED: Pick<Rendered, 'rendered' | 'offsets' | 'samples'> = { rendered: Buffer.alloc(0), offsets: [], samples: 0 };

// Families rendered per entry and streamed family by family: one HELP/TYPE block per family however many
// entries there are, as the format requires.
export class RenderedFamilies<T extends Rendered> {
  readonly #families: ReadonlyArray<Family<T>>;
  readonly #headers: Buffer[];

  constructor(families: ReadonlyArray<Family<T>>, full: boolean) {
    this.#families = families.filter((family) => full || family.fullOnly !== true);
    this.#headers = this.#families.map((family) => Buffer.from(familyHeader(family.name, family.type, family.help)));
  }

  render(entry: T): void {
    const texts = this.#families.map((family) => family.render(entry));
    const offsets = [0];
    let samples = 0;
    for (const text of texts) {
      offsets.push((offsets.at(-1) ?? 0) + Buffer.byteLength(text));
      for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) samples++;
    }
    const rendered = Buffer.allocUnsafeSlow(offsets.at(-1) ?? 0);
    texts.forEach((text, i) => rendered.write(text, offsets[i] ?? 0, 'utf8'));
    entry.rendered = rendered;
    entry.offsets = offsets;
    entry.samples = samples;
  }

  /** One buffer per family: its header and every entry's lines of it, copied once into a buffer of exact size. */
  *chunks(entries: () => Iterable<T>): Generator<Buffer> {
    for (const [index, header] of this.#headers.entries()) {
      let size = header.length;
      for (const entry of entries()) size += (entry.offsets[index + 1] ?? 0) - (entry.offsets[index] ?? 0);
      const chunk = Buffer.allocUnsafe(size);
      let at = header.copy(chunk, 0);
      for (const entry of entries()) {
        const start = entry.offsets[index] ?? 0;
        const end = entry.offsets[index + 1] ?? start;
        if (end > start) at += entry.rendered.copy(chunk, at, start, end);
      }
      yield chunk;
    }
  }
}
