import type { Database } from 'better-sqlite3';

/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many ran. Append only:
 * an applied migration is never edited, a change is a new entry. Times are epoch milliseconds.
 */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE apps (
    app_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    api_key_hash TEXT NOT NULL UNIQUE,
    webhook_url TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE nodes (
    node_id TEXT PRIMARY KEY,
    public_key_x TEXT NOT NULL,
    upload_api_url TEXT NOT NULL,
    public_url TEXT,
    region TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE pools (
    pool_id TEXT PRIMARY KEY,
    node_id TEXT NOT NULL REFERENCES nodes(node_id),
    tier TEXT NOT NULL,
    public_base_url TEXT NOT NULL,
    weight INTEGER NOT NULL DEFAULT 100,
    accepting INTEGER NOT NULL DEFAULT 1,
    replication_factor INTEGER NOT NULL DEFAULT 1,
    -- sum of file_size over open sessions; kept in step by the session, completion and expiry
    -- transactions so placement never sums millions of rows
    reserved_bytes INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX pools_node ON pools(node_id);
  CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    quota_bytes INTEGER,
    used_bytes INTEGER NOT NULL DEFAULT 0,
    reserved_bytes INTEGER NOT NULL DEFAULT 0,
    objects INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    pool_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    sha256 TEXT,
    content_type TEXT,
    filename TEXT,
    tier TEXT NOT NULL,
    visibility TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'completed', 'expired')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    completed_at INTEGER
  );
  CREATE INDEX sessions_open_expiry ON sessions(expires_at) WHERE state = 'open';
  CREATE INDEX sessions_pool_completed ON sessions(pool_id, completed_at) WHERE completed_at IS NOT NULL;
  CREATE TABLE objects (
    image_uuid TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    pool_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    rel_path TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    mime TEXT NOT NULL,
    visibility TEXT NOT NULL,
    state TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('processing', 'ready', 'failed')),
    created_at INTEGER NOT NULL
  );
  CREATE INDEX objects_user_sha ON objects(app_id, user_id, sha256);
  `,
  // Variant results reported by the node (image.* events) and the app webhook outbox.
  `
  ALTER TABLE objects ADD COLUMN width INTEGER;
  ALTER TABLE objects ADD COLUMN height INTEGER;
  ALTER TABLE objects ADD COLUMN format TEXT;
  ALTER TABLE objects ADD COLUMN variants TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE objects ADD COLUMN thumbnails_ready INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE objects ADD COLUMN failure_reason TEXT;
  CREATE TABLE webhook_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- image uuid + event type: a node delivering the same event twice queues one webhook
    event_id TEXT NOT NULL UNIQUE,
    app_id TEXT NOT NULL,
    url TEXT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    delivered_at INTEGER,
    dead INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX webhook_outbox_due ON webhook_outbox(next_attempt_at) WHERE delivered_at IS NULL AND dead = 0;
  `,
  // The admin page's recent failures, without scanning every object.
  `
  CREATE INDEX objects_failed ON objects(created_at) WHERE status = 'failed';
  `,
  // Replication, self-repair and pool moves: node lifecycle, the copies ledger (one row per copy
  // of an original; objects.pool_id/node_id stays the primary), moves and their items.
  `
  ALTER TABLE nodes ADD COLUMN state TEXT NOT NULL DEFAULT 'up'
    CHECK (state IN ('up', 'down', 'lost', 'draining', 'retired'));
  ALTER TABLE nodes ADD COLUMN last_seen_at INTEGER;
  -- the down-grace of existing nodes starts at the upgrade, not at their registration
  UPDATE nodes SET last_seen_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000;
  CREATE TABLE copies (
    image_uuid TEXT NOT NULL,
    pool_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'ok', 'corrupt', 'deleting')),
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    last_scrub_at INTEGER,
    reason TEXT,
    -- jobs added for this copy (replicate for pending/corrupt, delete for deleting)
    attempts INTEGER NOT NULL DEFAULT 0,
    -- when its job was last ensured in the node's queue; NULL = never (ensure on the next tick)
    ensured_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (image_uuid, pool_id)
  ) WITHOUT ROWID;
  CREATE INDEX copies_node ON copies(node_id);
  CREATE INDEX copies_pool ON copies(pool_id);
  CREATE INDEX copies_work ON copies(state, ensured_at) WHERE state <> 'ok';
  CREATE INDEX objects_pool ON objects(pool_id);
  CREATE INDEX objects_node ON objects(node_id);
  INSERT INTO copies (image_uuid, pool_id, node_id, state, size, sha256, created_at, updated_at)
    SELECT image_uuid, pool_id, node_id, 'ok', size, sha256, created_at, created_at FROM objects;
  CREATE TABLE moves (
    move_id TEXT PRIMARY KEY,
    source_pool_id TEXT NOT NULL,
    target_pool_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'cancelled', 'done', 'failed')),
    kind TEXT NOT NULL CHECK (kind IN ('move', 'drain')),
    -- the source pool's accepting flag before the move took it out of placement
    restore_accepting INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER
  );
  CREATE INDEX moves_active ON moves(state) WHERE state IN ('running', 'paused');
  CREATE TABLE move_items (
    move_id TEXT NOT NULL REFERENCES moves(move_id),
    image_uuid TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('planned', 'queued', 'done', 'failed', 'missing')),
    bytes INTEGER NOT NULL,
    error TEXT,
    ensured_at INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (move_id, image_uuid)
  ) WITHOUT ROWID;
  CREATE INDEX move_items_state ON move_items(move_id, state);
  CREATE INDEX move_items_queued ON move_items(image_uuid) WHERE state = 'queued';
  `,
  // The pool whose replication factor (and tier) governs an object: where it was uploaded or moved
  // to. Failover changes the primary (pool_id) but not the home, so a failed-over object is
  // still kept at its factor.
  `
  ALTER TABLE objects ADD COLUMN home_pool_id TEXT;
  UPDATE objects SET home_pool_id = pool_id;
  CREATE INDEX objects_home ON objects(home_pool_id);
  `,
  // S3 backups as nodes report them: one row per object once a backup is scheduled or stored (no
  // row = no backup). Its own table, so the bucket and key never ride along in `SELECT o.*`.
  `
  CREATE TABLE backups (
    image_uuid TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('scheduled', 'stored')),
    -- the node and pool that reported last
    node_id TEXT NOT NULL,
    pool_id TEXT NOT NULL,
    due_at INTEGER,
    bucket TEXT,
    object_key TEXT,
    backed_up_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX backups_due ON backups(due_at) WHERE state = 'scheduled';
  `,
  // Tiering: a pool's policy (objects older than after_seconds move to a pool of to_tier), and
  // moves of kind 'tier' (single objects; SQLite cannot alter a CHECK, so moves is rebuilt — the
  // deferred foreign keys of move_items are satisfied again once the rows are back).
  `
  ALTER TABLE pools ADD COLUMN tiering_after_seconds INTEGER;
  ALTER TABLE pools ADD COLUMN tiering_to_tier TEXT;
  PRAGMA defer_foreign_keys = ON;
  CREATE TABLE moves_copy AS SELECT * FROM moves;
  DROP TABLE moves;
  CREATE TABLE moves (
    move_id TEXT PRIMARY KEY,
    source_pool_id TEXT NOT NULL,
    target_pool_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'cancelled', 'done', 'failed')),
    kind TEXT NOT NULL CHECK (kind IN ('move', 'drain', 'tier')),
    -- the source pool's accepting flag before the move took it out of placement
    restore_accepting INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER
  );
  INSERT INTO moves SELECT * FROM moves_copy;
  DROP TABLE moves_copy;
  CREATE INDEX moves_active ON moves(state) WHERE state IN ('running', 'paused');
  `,
  // Image delete: the object leaves \`objects\` (so no scan, placement or restore ever sees it
  // again) and a tombstone keeps what the clean-up needs — its copies' files are deleted by node
  // jobs, and its S3 backup after a grace period. Pools get a type: 'disk' (a directory on a
  // node) or 's3' (a bucket reached through the node that declares it: a cold tier).
  `
  CREATE TABLE deleted_objects (
    image_uuid TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    pool_id TEXT NOT NULL,
    rel_path TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    variants TEXT NOT NULL,
    deleted_at INTEGER NOT NULL,
    -- 1 while a stored S3 backup of it waits for its deletion (what the clean-up scans)
    backup_pending INTEGER NOT NULL DEFAULT 0,
    -- the backup_delete job was last ensured in a node's queue (NULL: never)
    backup_ensured_at INTEGER,
    -- when the node reported the S3 backup deleted (NULL: none yet, or there was none)
    backup_deleted_at INTEGER
  ) WITHOUT ROWID;
  CREATE INDEX deleted_objects_backup ON deleted_objects(deleted_at) WHERE backup_pending = 1;
  ALTER TABLE pools ADD COLUMN type TEXT NOT NULL DEFAULT 'disk' CHECK (type IN ('disk', 's3'));
  `,
  // Users belong to an app (issue 17): the same user_id in two apps was one row, so app B could
  // read app A's user's usage and spend their quota. Re-keyed by (app_id, user_id). Usage and
  // object counts are recomputed per app from \`objects\` (live objects carry their app), and
  // reservations from open sessions (which do too). A quota override is given to the user in
  // every app: it is the operator's word for that user_id, and copying it grants no one bytes
  // they did not have (a single-app install keeps exactly its figures).
  `
  CREATE TABLE users_by_app (
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    quota_bytes INTEGER,
    used_bytes INTEGER NOT NULL DEFAULT 0,
    reserved_bytes INTEGER NOT NULL DEFAULT 0,
    objects INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, user_id)
  ) WITHOUT ROWID;
  INSERT INTO users_by_app (app_id, user_id, quota_bytes)
    SELECT a.app_id, u.user_id, u.quota_bytes FROM users u CROSS JOIN apps a WHERE u.quota_bytes IS NOT NULL;
  INSERT INTO users_by_app (app_id, user_id, used_bytes, objects)
    SELECT app_id, user_id, SUM(size), COUNT(*) FROM objects WHERE true GROUP BY app_id, user_id
    ON CONFLICT (app_id, user_id) DO UPDATE SET used_bytes = excluded.used_bytes, objects = excluded.objects;
  INSERT INTO users_by_app (app_id, user_id, reserved_bytes)
    SELECT app_id, user_id, SUM(file_size) FROM sessions WHERE state = 'open' GROUP BY app_id, user_id
    ON CONFLICT (app_id, user_id) DO UPDATE SET reserved_bytes = excluded.reserved_bytes;
  DROP TABLE users;
  ALTER TABLE users_by_app RENAME TO users;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database up to SCHEMA_VERSION; refuses a database from a newer coordinator. */
export function migrate(db: Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) throw new Error(`database schema ${current} is newer than this coordinator (${SCHEMA_VERSION})`);
  for (let v = current; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
