import type { Database } from 'better-sqlite3';

export interface ObjectRow {
  image_uuid: string;
  app_id: string;
  user_id: string;
  session_id: string;
  /** The primary copy: where /i and the image API point. */
  pool_id: string;
  /** The pool whose replication factor and tier govern the object (upload or move target). */
  home_pool_id: string;
  node_id: string;
  rel_path: string;
  size: number;
  sha256: string;
  mime: string;
  visibility: string;
  state: string;
  status: 'processing' | 'ready' | 'failed';
  created_at: number;
  width: number | null;
  height: number | null;
  format: string | null;
  /** JSON array of VariantFileInfo (shared/api.ts), as the node reported them. */
  variants: string;
  thumbnails_ready: 0 | 1;
  failure_reason: string | null;
  /** Joined from the pool, so URLs follow a pool's current public address. */
  public_base_url: string;
}

const SELECT = `SELECT o.*, p.public_base_url FROM objects o JOIN pools p ON p.pool_id = o.pool_id`;

/** The object index: uuid → where the file is, whose it is, what it is. */
export function objectsRepo(db: Database) {
  const get = db.prepare(`${SELECT} WHERE o.image_uuid = ?`);
  const duplicate = db.prepare(
    `${SELECT} WHERE o.app_id = ? AND o.user_id = ? AND o.sha256 = ? AND o.state = 'stored' LIMIT 1`,
  );
  const failed = db.prepare(`${SELECT} WHERE o.status = 'failed' ORDER BY o.created_at DESC LIMIT ?`);
  return {
    /** The newest objects whose processing failed (the admin page's "recent failures"). */
    recentFailures(limit: number): ObjectRow[] {
      return failed.all(limit) as ObjectRow[];
    },
    get(imageUuid: string): ObjectRow | undefined {
      return get.get(imageUuid) as ObjectRow | undefined;
    },
    /** A stored object this user of this app already has with these bytes. */
    findDuplicate(appId: string, userId: string, sha256: string): ObjectRow | undefined {
      return duplicate.get(appId, userId, sha256) as ObjectRow | undefined;
    },
  };
}
export type ObjectsRepo = ReturnType<typeof objectsRepo>;
