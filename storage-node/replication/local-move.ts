import path from 'node:path';
import { isAppError } from '../../shared/errors.js';
import { DiskStore } from '../pool-store/disk-store.js';
import { filesOf, type LocalObject } from './local-objects.js';
import { LocalCopyBad } from './send.js';

const MISMATCH = new Set(['size_mismatch', 'checksum_mismatch']);

/**
 * A move between two pools of the same node: a disk-to-disk copy instead of a PUT to itself,
 * with the same guarantees — each file lands whole (the target pool's disk store: temp file,
 * fsync, atomic rename) and the original is hashed as it is copied and must match the record.
 * One directory fsync per directory, after all its files.
 */
export async function copyWithinNode(opts: { from: string; to: string; object: LocalObject }): Promise<void> {
  const o = opts.object;
  const source = new DiskStore({ root: opts.from });
  const target = new DiskStore({ root: opts.to });
  const dirs = new Map<string, string>();
  for (const rel of filesOf(o)) {
    const isOriginal = rel === o.rel_path;
    const body = await source.read(rel);
    if (!body) {
      if (isOriginal) throw new LocalCopyBad('missing', `${source.path(rel)} is missing`);
      continue; // a lost variant can be made again; the original is what counts
    }
    let staged;
    try {
      staged = await target.stage(body, isOriginal ? { expectSize: o.size, expectSha256: o.sha256 } : {});
    } catch (err) {
      if (isOriginal && isAppError(err) && MISMATCH.has(err.code))
        throw new LocalCopyBad('mismatch', `${source.path(rel)}: ${err.message}; the record says ${o.size} bytes, sha256 ${o.sha256}`);
      throw err;
    }
    try {
      await target.commit(staged, rel, { deferDirSync: true });
    } finally {
      await target.discard(staged);
    }
    dirs.set(path.posix.dirname(rel), rel);
  }
  await Promise.all([...dirs.values()].map((rel) => target.syncDirOf(rel)));
}
