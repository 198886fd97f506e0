import { gzipChunks } from '../../src/http/gzip-stream.js';

/** The whole body gzipChunks makes of these chunks. */
export async function gzipped(chunks: readonly Buffer[]): Promise<Buffer> {
  async function* source(): AsyncGenerator<Buffer> {
    yield* chunks;
  }
  const parts: Buffer[] = [];
  for await (const part of gzipChunks(source())) parts.push(part);
  return Buffer.concat(parts);
}
