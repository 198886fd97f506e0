import { closeSync, openSync, readSync } from 'node:fs';

/** A file that holds more than the reader accepts; not read whole, so a wrong path cannot fill memory. */
export class FileTooLargeError extends Error {
  readonly code = 'EFBIG';

  constructor(path: string, limit: number) {
    super(`${path} is larger than ${limit} bytes`);
    this.name = 'FileTooLargeError';
  }
}

/** Reads at most `limit` bytes of a small file (a token, a key, a cache entry) as UTF-8; more throws FileTooLargeError. */
export function readFileBounded(path: string, limit: number): string {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(limit + 1);
    let length = 0;
    for (;;) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
      if (length > limit) throw new FileTooLargeError(path, limit);
    }
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
