import type { Visibility } from '../../shared/tokens.js';
import type { Db } from './open.js';

/**
 * One tus upload as the node knows it: which pool holds its bytes and which token (jti) it
 * belongs to. The upload id in the URL is only a name; this row is what later requests are
 * checked against, so an id alone grants nothing.
 */
export interface TusUploadRow {
  id: string;
  pool_id: string;
  jti: string;
  session_id: string;
  user_id: string;
  /** The token's `vis`: where the finished file goes (`private/…` or not). */
  visibility: Visibility;
  /** Upload-Length, fixed at creation (no deferred length). */
  size: number;
  created_at: number;
  /** ms since the epoch; after it the expiration sweep removes bytes and row. */
  expires_at: number;
}

/** The only code that writes `tus_uploads`. */
export interface TusRegistry {
  insert(row: TusUploadRow): void;
  get(id: string): TusUploadRow | undefined;
  delete(id: string): void;
  /** Rows whose expiry passed; the sweep removes their bytes, then the rows. */
  expired(nowMs: number): TusUploadRow[];
}

export function createTusRegistry(db: Db): TusRegistry {
  const insert = db.prepare(
    `INSERT INTO tus_uploads (id, pool_id, jti, session_id, user_id, visibility, size, created_at, expires_at)
     VALUES (@id, @pool_id, @jti, @session_id, @user_id, @visibility, @size, @created_at, @expires_at)`,
  );
  const get = db.prepare('SELECT * FROM tus_uploads WHERE id = ?');
  const del = db.prepare('DELETE FROM tus_uploads WHERE id = ?');
  const expired = db.prepare('SELECT * FROM tus_uploads WHERE expires_at < ? ORDER BY expires_at LIMIT 1000');
  return {
    insert: (row) => void insert.run(row),
    get: (id) => get.get(id) as TusUploadRow | undefined,
    delete: (id) => void del.run(id),
    expired: (now) => expired.all(now) as TusUploadRow[],
  };
}
