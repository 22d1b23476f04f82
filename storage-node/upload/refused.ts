import type { UploadComplete } from '../../shared/api.js';
import type { NodeStore, OutboxRow } from '../db/store.js';
import { DiskStore } from '../pool-store/disk-store.js';
import type { PoolSet } from '../pools.js';

/**
 * An `upload.complete` the coordinator refused for good (410: the session expired and the
 * upload no longer fits the user's quota): the file goes, then its row, so the pool gets the
 * bytes back and nothing serves or replicates an object the coordinator never recorded. Safe to
 * run again after a crash: both steps are no-ops the second time. Other kinds are left alone.
 */
export async function dropRefusedUpload(deps: { store: NodeStore; pools: PoolSet }, row: OutboxRow): Promise<void> {
  if (row.kind !== 'upload.complete') return;
  const complete = JSON.parse(row.payload) as UploadComplete;
  const pool = deps.pools.get(complete.pool_id);
  if (pool) await new DiskStore({ root: pool.config.path }).remove(complete.rel_path);
  deps.store.deleteObject(complete.image_uuid);
}
