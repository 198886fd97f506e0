import { constants, crc32, deflateRawSync } from 'node:zlib';

// One gzip member (RFC 1952) built from chunks compressed one at a time on the calling thread: each chunk is a
// raw deflate stream ended with a sync flush (byte-aligned, no final block, back-references only into itself),
// so the pieces concatenate into one valid deflate stream; an empty final block and the CRC-32 and length of
// everything close it. A streaming zlib.Gzip instead hands every 16 KB of output to the thread pool and back,
// one event-loop turn each: behind 10,000 monitors' checks, an 11 MB /metrics took 0.4-2.4 s gzipped against
// 0.13-1.1 s plain (npm run bench, 10000x1). Here a 1 MB family costs a few milliseconds of the loop, once.

const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff]);
const LEVEL = constants.Z_BEST_SPEED;

export async function* gzipChunks(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let crc = 0;
  let length = 0;
  yield HEADER;
  for await (const chunk of source) {
    if (chunk.length === 0) continue;
    crc = crc32(chunk, crc);
    length = (length + chunk.length) % 2 ** 32;
    yield deflateRawSync(chunk, { level: LEVEL, finishFlush: constants.Z_SYNC_FLUSH });
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(length, 4);
  yield Buffer.concat([deflateRawSync(Buffer.alloc(0), { level: LEVEL, finishFlush: constants.Z_FINISH }), trailer]);
}
