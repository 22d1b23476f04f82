import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { ThrottleStream, type TokenBucket } from '../throttle.js';

/**
 * What re-reading one original found. `changed`: the file was replaced (a repair's rename) or
 * removed while it was read, so what was read says nothing about the file there now — nothing
 * is recorded and the next pass looks again. `error`: unreadable for another reason (EACCES,
 * EIO…): logged and counted, not reported as corrupt.
 */
export type FileCheck =
  | { outcome: 'ok'; bytes: number }
  | { outcome: 'missing'; bytes: 0 }
  | { outcome: 'mismatch'; bytes: number; detail: string }
  | { outcome: 'changed'; bytes: number }
  | { outcome: 'error'; bytes: number; error: Error };

const CHUNK = 256 * 1024;

/**
 * Streams `abs` through the throttle into SHA-256 and compares with the row. Never buffers the
 * file; an abort of `signal` rejects (AbortError) instead of returning an outcome.
 */
export async function checkFile(
  abs: string,
  expected: { size: number; sha256: string },
  bucket: TokenBucket,
  signal: AbortSignal,
): Promise<FileCheck> {
  signal.throwIfAborted();
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(abs, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { outcome: 'missing', bytes: 0 };
    return { outcome: 'error', bytes: 0, error: err as Error };
  }
  let bytes = 0;
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { outcome: 'error', bytes: 0, error: new Error('not a regular file') };
    // The wrong size is already a mismatch: no need to spend the read budget on it.
    if (st.size !== expected.size)
      return bad(abs, st, { outcome: 'mismatch', bytes: 0, detail: `size ${st.size}, recorded ${expected.size}` });
    const hash = createHash('sha256');
    await pipeline(
      fh.createReadStream({ highWaterMark: CHUNK, autoClose: false }),
      new ThrottleStream(bucket),
      async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) {
          bytes += chunk.length;
          hash.update(chunk);
        }
      },
      { signal },
    );
    const sha256 = hash.digest('hex');
    if (bytes === expected.size && sha256 === expected.sha256) return { outcome: 'ok', bytes };
    return bad(abs, st, { outcome: 'mismatch', bytes, detail: `read ${bytes} bytes with sha256 ${sha256}` });
  } catch (err) {
    if (signal.aborted) throw err;
    return { outcome: 'error', bytes, error: err as Error };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** A bad result stands only if the path still names the inode that was read. */
async function bad(abs: string, read: Stats, result: FileCheck): Promise<FileCheck> {
  const now = await fs.stat(abs).catch(() => undefined);
  if (!now || now.ino !== read.ino || now.dev !== read.dev) return { outcome: 'changed', bytes: result.bytes };
  return result;
}
