import type { Database } from 'better-sqlite3';
import { LIVE_OK } from './counted-copies.js';

/** What a restore from S3 needs of an object (see `restorable`). */
export interface RestorableRow {
  image_uuid: string;
  rel_path: string;
  size: number;
  sha256: string;
  mime: string;
  user_id: string;
  session_id: string;
  created_at: number;
  home_pool_id: string;
  tier: string | null;
  bucket: string;
  key: string;
}

/** Restores from S3 as the durability loop plans them: which objects only the bucket has, and who can read it. */
export interface RestorableRepo {
  /** Objects only S3 still has (stored backup, no good copy in service, none pending), after `after`. */
  restorable(after: string, limit: number): RestorableRow[];
  /** The object's record and stored backup location, undefined without a stored backup. */
  backedUp(uuid: string): RestorableRow | undefined;
  /** Pools that reported stored backups to `bucket`: their nodes hold credentials that can read it. */
  bucketReaders(bucket: string): string[];
  /** Objects only S3 has whose bucket no pool on a node up has stored backups to. */
  unrestorableCount(): number;
}

const BACKED_UP = `SELECT o.image_uuid, o.rel_path, o.size, o.sha256, o.mime, o.user_id, o.session_id, o.created_at,
         coalesce(o.home_pool_id, o.pool_id) AS home_pool_id, hp.tier, b.bucket, b.object_key AS key
  FROM backups b JOIN objects o ON o.image_uuid = b.image_uuid
  LEFT JOIN pools hp ON hp.pool_id = coalesce(o.home_pool_id, o.pool_id)
  WHERE b.state = 'stored' AND b.bucket IS NOT NULL AND b.object_key IS NOT NULL AND o.state = 'stored'`;
// No good copy on a node in service and no copy being made anywhere: S3 is all that is left.
const RESTORABLE_SELECT = `${BACKED_UP}
    AND NOT EXISTS (SELECT 1 FROM copies c JOIN nodes n ON n.node_id = c.node_id
                    WHERE c.image_uuid = o.image_uuid AND (c.state = 'pending' OR (${LIVE_OK})))`;

export function restorableRepo(db: Database): RestorableRepo {
  const s = {
    restorable: db.prepare(`${RESTORABLE_SELECT} AND o.image_uuid > ? ORDER BY o.image_uuid LIMIT ?`),
    backedUp: db.prepare(`${BACKED_UP} AND o.image_uuid = ?`),
    bucketReaders: db.prepare("SELECT DISTINCT pool_id FROM backups WHERE state = 'stored' AND bucket = ?").pluck(),
    unrestorable: db
      .prepare(
        `SELECT count(*) FROM (${RESTORABLE_SELECT}) r WHERE NOT EXISTS (
           SELECT 1 FROM backups rb JOIN pools rp ON rp.pool_id = rb.pool_id JOIN nodes rn ON rn.node_id = rp.node_id
           WHERE rb.state = 'stored' AND rb.bucket = r.bucket AND rn.state = 'up')`,
      )
      .pluck(),
  };
  return {
    restorable: (after, limit) => s.restorable.all(after, limit) as RestorableRow[],
    backedUp: (uuid) => s.backedUp.get(uuid) as RestorableRow | undefined,
    bucketReaders: (bucket) => s.bucketReaders.all(bucket) as string[],
    unrestorableCount: () => s.unrestorable.get() as number,
  };
}
