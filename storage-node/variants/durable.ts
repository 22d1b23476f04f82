import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Makes a finished temp file permanent like an upload: fsync its bytes, rename it into place
 * (atomic: a reader or a crash sees the old file or the whole new one, never half), and leave the
 * directory fsync to the caller, who batches it once per directory.
 */
export async function commitFile(tmpPath: string, finalPath: string): Promise<number> {
  const fh = await fs.open(tmpPath, 'r');
  let size: number;
  try {
    await fh.sync();
    size = (await fh.stat()).size;
  } finally {
    await fh.close();
  }
  await fs.mkdir(path.dirname(finalPath), { recursive: true });
  await fs.rename(tmpPath, finalPath);
  return size;
}

/** fsync a directory so the renames into it survive a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Runs `fns` with at most `limit` at a time; the first failure rejects after all started ones settle. */
export async function inParallel<T>(limit: number, fns: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(fns.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const lane = async () => {
    while (!failure && next < fns.length) {
      const i = next++;
      try {
        results[i] = await fns[i]!();
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, fns.length)) }, lane));
  if (failure) throw failure.err;
  return results;
}
