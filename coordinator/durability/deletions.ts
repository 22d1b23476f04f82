import type { VariantFileInfo } from '../../shared/api.js';
import { variantKeyBeside } from '../../shared/backup.js';
import type { JobData } from '../../shared/jobs.js';
import type { BackupToDelete } from '../db/deleted-objects.js';
import { bucketReaders, type DurabilityDeps, readable, type TickContext } from './context.js';

export const DEFAULT_BACKUP_DELETE_GRACE_MS = 7 * 24 * 3600 * 1000;

/** Every key a deleted image may have in the bucket: the original's and its variants' beside it. */
export function backupKeysOf(d: Pick<BackupToDelete, 'object_key' | 'variants'>): string[] {
  const variants = JSON.parse(d.variants) as VariantFileInfo[];
  return [...new Set([d.object_key, ...variants.map((v) => variantKeyBeside(d.object_key, v.rel_path))])];
}

/**
 * Step h: the stored backups of images deleted longer than the grace period ago are deleted from
 * the bucket by a node that can reach it — the one that stored it, else any node up whose pool
 * has stored backups to the same bucket (its credentials can). The node reports backup.deleted;
 * until then the job is re-ensured every jobRetryMs. (Copies of deleted images need no step of
 * their own: they are `deleting`, and reensureCopies sends their delete jobs.)
 */
export async function deleteExpiredBackups(deps: DurabilityDeps, ctx: TickContext) {
  const { deletions, pools } = deps.repos;
  const { settings } = deps;
  const graceMs = settings.backupDeleteGraceMs ?? DEFAULT_BACKUP_DELETE_GRACE_MS;
  const stats = { ensured: 0, no_node: 0 };
  for (const d of deletions.backupsDue(ctx.now - graceMs, ctx.now - settings.jobRetryMs, settings.repairBatch)) {
    const readers = [d.backup_pool_id, ...[...bucketReaders(deps, ctx, d.bucket)].filter((p) => p !== d.backup_pool_id)];
    const pool = readers.map((id) => pools.get(id)).find((p) => p !== undefined && readable(ctx, settings, p.node_id));
    if (!pool) {
      stats.no_node++;
      continue;
    }
    const job: JobData = {
      kind: 'backup_delete',
      image_uuid: d.image_uuid,
      pool_id: pool.pool_id,
      backup: { bucket: d.bucket, keys: backupKeysOf(d) },
    };
    const outcome = await deps.jobs.ensure(pool.node_id, job);
    if (outcome !== 'error') deletions.backupEnsured(d.image_uuid, ctx.now);
    stats.ensured++;
  }
  return stats;
}
