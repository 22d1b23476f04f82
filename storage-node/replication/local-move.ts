import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TMP_DIR } from '../../shared/paths.js';
import { commitFile, syncDir } from '../variants/durable.js';
import { hashFile } from './hash-file.js';
import { absPath, filesOf, type LocalObject } from './local-objects.js';
import { LocalCopyBad } from './send.js';

/**
 * A move between two pools of the same node: a disk-to-disk copy instead of a PUT to itself,
 * with the same guarantees — each file lands whole (temp file in the target pool's tmp/, fsync,
 * atomic rename, directory fsync) and the original's copy is re-read and must hash to the record.
 */
export async function copyWithinNode(opts: { from: string; to: string; object: LocalObject }): Promise<void> {
  const o = opts.object;
  const dirs = new Set<string>();
  for (const rel of filesOf(o)) {
    const src = absPath(opts.from, rel);
    const dst = absPath(opts.to, rel);
    const tmp = path.join(opts.to, TMP_DIR, `${randomUUID()}.part`);
    try {
      await fs.copyFile(src, tmp);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (rel === o.rel_path) throw new LocalCopyBad('missing', `${src} is missing`);
      continue; // a lost variant can be made again; the original is what counts
    }
    try {
      if (rel === o.rel_path) {
        const copy = await hashFile(tmp);
        if (copy.sha256 !== o.sha256 || copy.size !== o.size)
          throw new LocalCopyBad('mismatch', `${src} hashes to ${copy.sha256}, the record says ${o.sha256}`);
      }
      await commitFile(tmp, dst);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    dirs.add(path.dirname(dst));
  }
  await Promise.all([...dirs].map(syncDir));
}
