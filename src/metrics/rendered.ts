import { familyHeader, type FamilyType } from './exposition.js';

/** A series set whose exposition text is kept rendered, so a scrape joins text instead of formatting numbers. */
export interface Rendered {
  /**
   * All of the set's sample lines, family after family, in one flat string (Array.join makes it flat; strings
   * built with + stay rope trees); `offsets[i]` is where family i starts. A string, not a Buffer per entry: a
   * scrape copied 12 slices of each of 20,000 Buffers with Buffer.copy, and those 240,000 calls (a typed-array
   * view each) were most of its time: 150-500 ms for 11 MB here under load, 20-50 ms with slices joined.
   */
  text: string;
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

export const NOTHING_RENDERED: Pick<Rendered, 'text' | 'offsets' | 'samples'> = { text: '', offsets: [], samples: 0 };

// Families rendered per entry and streamed family by family: one HELP/TYPE block per family however many
// entries there are, as the format requires.
export class RenderedFamilies<T extends Rendered> {
  readonly #families: ReadonlyArray<Family<T>>;
  readonly #headers: string[];

  constructor(families: ReadonlyArray<Family<T>>, full: boolean) {
    this.#families = families.filter((family) => full || family.fullOnly !== true);
    this.#headers = this.#families.map((family) => familyHeader(family.name, family.type, family.help));
  }

  render(entry: T): void {
    const texts = this.#families.map((family) => family.render(entry));
    const offsets = [0];
    let samples = 0;
    for (const text of texts) {
      offsets.push((offsets.at(-1) ?? 0) + text.length);
      for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) samples++;
    }
    entry.text = texts.join('');
    entry.offsets = offsets;
    entry.samples = samples;
  }

  /** One buffer per family: its header and every entry's lines of it. */
  *chunks(entries: () => Iterable<T>): Generator<Buffer> {
    for (const [index, header] of this.#headers.entries()) {
      const parts = [header];
      for (const entry of entries()) {
        const start = entry.offsets[index] ?? 0;
        const end = entry.offsets[index + 1] ?? start;
        if (end > start) parts.push(entry.text.slice(start, end));
      }
      yield Buffer.from(parts.join(''), 'utf8');
    }
  }
}
