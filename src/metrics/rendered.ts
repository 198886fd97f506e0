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

// Below V8's 128 KB large-object threshold, so a piece and its string die young; each is deflated on its own
// for gzip, whose window is 32 KB anyway.
const CHUNK_CHARS = 64 * 1024;

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

  /**
   * The exposition in pieces of about CHUNK_CHARS, family after family (each header before its entries' lines).
   * Whole families were up to 3 MB each at 20,000 checks: every scrape then put a 3 MB string in V8's
   * large-object space and a 3 MB Buffer outside the heap per family, which added to the agent's peak RSS.
   */
  *chunks(entries: () => Iterable<T>): Generator<Buffer> {
    let parts: string[] = [];
    let length = 0;
    for (const [index, header] of this.#headers.entries()) {
      parts.push(header);
      length += header.length;
      for (const entry of entries()) {
        const start = entry.offsets[index] ?? 0;
        const end = entry.offsets[index + 1] ?? start;
        if (end <= start) continue;
        parts.push(entry.text.slice(start, end));
        length += end - start;
        if (length < CHUNK_CHARS) continue;
        yield Buffer.from(parts.join(''), 'utf8');
        parts = [];
        length = 0;
      }
    }
    if (length > 0) yield Buffer.from(parts.join(''), 'utf8');
  }
}
