import type { Database } from 'better-sqlite3';
import type { RestoreItem } from '../../shared/restore.js';

interface Row extends Omit<RestoreItem, 'created_at'> {
  created_at: number;
}

/**
 * What a node restoring a pool from S3 may fetch: objects homed on the pool, primary there or
 * with a copy there, whose backup is stored (a scheduled one has nothing in the bucket yet).
 * Keyset pages by image_uuid, so a long restore never rescans what it has seen.
 */
export interface RestoreListRepo {
  /** The node that owns the pool, undefined for an unknown pool. */
  poolNode(poolId: string): string | undefined;
  /** Up to `limit` items after `after` (exclusive); `since` is epoch ms on created_at. */
  page(q: { poolId: string; after: string; sinceMs: number; limit: number }): RestoreItem[];
}

export function restoreListRepo(db: Database): RestoreListRepo {
  const s = {
    poolNode: db.prepare('SELECT node_id FROM pools WHERE pool_id = ?').pluck(),
    page: db.prepare(
      `SELECT o.image_uuid, o.rel_path, o.size, o.sha256, o.mime, o.user_id, o.session_id, o.created_at,
              b.bucket, b.object_key AS key
       FROM objects o JOIN backups b ON b.image_uuid = o.image_uuid
       WHERE b.state = 'stored' AND b.bucket IS NOT NULL AND b.object_key IS NOT NULL
         AND o.image_uuid > @after AND o.created_at >= @since
         AND (coalesce(o.home_pool_id, o.pool_id) = @pool OR o.pool_id = @pool
              OR EXISTS (SELECT 1 FROM copies c WHERE c.image_uuid = o.image_uuid AND c.pool_id = @pool))
       ORDER BY o.image_uuid
       LIMIT @limit`,
    ),
  };
  return {
    poolNode: (poolId: string) => s.poolNode.get(poolId) as string | undefined,
    page(q: { poolId: string; after: string; sinceMs: number; limit: number }): RestoreItem[] {
      const rows = s.page.all({ pool: q.poolId, after: q.after, since: q.sinceMs, limit: q.limit }) as Row[];
      return rows.map((r) => ({ ...r, created_at: new Date(r.created_at).toISOString() }));
    },
  };
}
