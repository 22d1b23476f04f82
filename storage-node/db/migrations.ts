import type { Db } from './open.js';

/**
 * Schema migrations, applied in order; PRAGMA user_version records how many ran. Append only:
 * a node upgraded in place must reach the same schema as a fresh one.
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE objects (
     uuid TEXT PRIMARY KEY,
     session_id TEXT NOT NULL,
     user_id TEXT NOT NULL,
     pool_id TEXT NOT NULL,
     rel_path TEXT NOT NULL UNIQUE,
     size INTEGER NOT NULL,
     sha256 TEXT NOT NULL,
     mime TEXT NOT NULL,
     status TEXT NOT NULL DEFAULT 'processing',
     created_at TEXT NOT NULL
   );
   CREATE INDEX objects_pool ON objects(pool_id);
   CREATE TABLE outbox (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     kind TEXT NOT NULL,
     payload TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at INTEGER NOT NULL,
     last_error TEXT,
     dead INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL
   );
   CREATE INDEX outbox_due ON outbox(dead, next_attempt_at);
   CREATE TABLE used_tokens (
     jti TEXT PRIMARY KEY,
     exp INTEGER NOT NULL
   );`,
  // Resumable (tus) uploads in progress: pool and token of each upload id (storage-node/tus/).
  `CREATE TABLE tus_uploads (
     id TEXT PRIMARY KEY,
     pool_id TEXT NOT NULL,
     jti TEXT NOT NULL UNIQUE,
     session_id TEXT NOT NULL,
     user_id TEXT NOT NULL,
     size INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE INDEX tus_uploads_expiry ON tus_uploads(expires_at);`,
  // Variant work (storage-node/jobs/): the node's SQLite is the truth the job queue is rebuilt from.
  `ALTER TABLE objects ADD COLUMN width INTEGER;
   ALTER TABLE objects ADD COLUMN height INTEGER;
   ALTER TABLE objects ADD COLUMN format TEXT;
   ALTER TABLE objects ADD COLUMN variants TEXT NOT NULL DEFAULT '[]';
   ALTER TABLE objects ADD COLUMN thumbnails_ready INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE objects ADD COLUMN failure_reason TEXT;
   ALTER TABLE objects ADD COLUMN updated_at TEXT;
   CREATE INDEX objects_processing ON objects(created_at) WHERE status = 'processing';`,
  // Private files (token claim `vis`): a resumable upload remembers where its file will go.
  `ALTER TABLE tus_uploads ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';`,
  // Copies (storage-node/replication/, storage-node/scrub/): how the file came here, and when
  // scrub last re-read it and what it found (ok, missing, mismatch).
  `ALTER TABLE objects ADD COLUMN origin TEXT NOT NULL DEFAULT 'upload';
   ALTER TABLE objects ADD COLUMN last_scrub_at INTEGER;
   ALTER TABLE objects ADD COLUMN scrub_state TEXT;
   CREATE INDEX objects_scrub ON objects(last_scrub_at);`,
  // S3 backup of originals (storage-node/backup/): none → pending (due at backup_due_at, epoch ms)
  // → done. The backup queue is rebuilt from the pending rows, delays included.
  `ALTER TABLE objects ADD COLUMN backup_state TEXT NOT NULL DEFAULT 'none';
   ALTER TABLE objects ADD COLUMN backup_due_at INTEGER;
   ALTER TABLE objects ADD COLUMN backup_key TEXT;
   ALTER TABLE objects ADD COLUMN backed_up_at INTEGER;
   ALTER TABLE objects ADD COLUMN backup_attempts INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE objects ADD COLUMN backup_error TEXT;
   CREATE INDEX objects_backup_pending ON objects(backup_due_at) WHERE backup_state = 'pending';`,
];

/** Applies the migrations this database has not run yet, each in its own transaction. */
export function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
