import type { Db } from './open.js';

/** One stored original, as this node's SQLite records it. */
export interface ObjectRow {
  uuid: string;
  session_id: string;
  user_id: string;
  pool_id: string;
  rel_path: string;
  size: number;
  sha256: string;
  mime: string;
  created_at: string;
}

/** A copy's row as it is first written (origin `replica`, scrub state ok as of `now_ms`). */
export interface NewCopyRow extends ObjectRow, CopyProcessingState {
  now_ms: number;
  /** ISO time of `now_ms`. */
  now: string;
}

/** The processing state a copy takes from its sender (or starts with). */
export interface CopyProcessingState {
  uuid: string;
  status: string;
  width: number | null;
  height: number | null;
  format: string | null;
  /** JSON array of VariantFileInfo. */
  variants: string;
  thumbnails_ready: 0 | 1;
}

/** A variant milestone's new state (`now`: ISO time). */
export interface ProcessingUpdate {
  uuid: string;
  status: string;
  thumbnails_ready: 0 | 1;
  width: number | null;
  height: number | null;
  format: string | null;
  /** JSON array of VariantFileInfo. */
  variants: string;
  reason: string | null;
  now: string;
}

/**
 * The node's `objects` table: the only code that writes it. Uploads, copies, variant milestones,
 * backups and scrubs each change their own columns through these writers, inside the callers'
 * transactions (which also add the outbox row reporting the change).
 */
export interface NodeObjects {
  get(uuid: string): ObjectRow | undefined;
  count(): number;
  /** Bytes of the originals recorded in the pool (summed: callers cache it). */
  usedBytes(poolId: string): number;
  insertUpload(obj: ObjectRow): void;
  insertCopy(row: NewCopyRow): void;
  /** A copy rewritten with verified bytes: scrub state ok again. */
  markRepaired(uuid: string, nowMs: number): void;
  takeCopyState(state: CopyProcessingState): void;
  /** Removes the row; returns whether there was one. */
  remove(uuid: string): boolean;
  /** Removes the row only while it is recorded in `poolId` (a copy job of that pool). */
  removeFromPool(uuid: string, poolId: string): void;
  /** The original moved to another pool of this node. */
  setPool(uuid: string, poolId: string, nowIso: string): void;
  /** The original was restored: its variants are made again, so processing starts over. */
  restartProcessing(uuid: string): void;
  setProcessing(update: ProcessingUpdate): void;
  /** An upload's backup becomes pending, due at `dueAt`; false when it is not `none` or not an upload. */
  backupPending(uuid: string, dueAt: number): boolean;
  /** The pending backup is in the bucket under `key`; false when the row is not pending with these bytes. */
  backupDone(uuid: string, sha256: string, key: string, atMs: number): boolean;
  backupFailed(uuid: string, error: string): void;
  backupNone(uuid: string, reason: string): void;
  /** The file was re-read and matched; false when the row changed since (deleted or rewritten). */
  scrubOk(uuid: string, size: number, sha256: string, nowMs: number): boolean;
  scrubState(uuid: string, state: string, nowMs: number): void;
}

export function nodeObjects(db: Db): NodeObjects {
  const s = {
    get: db.prepare('SELECT * FROM objects WHERE uuid = ?'),
    count: db.prepare('SELECT count(*) AS n FROM objects').pluck(),
    used: db.prepare('SELECT coalesce(sum(size), 0) FROM objects WHERE pool_id = ?').pluck(),
    insertUpload: db.prepare(
      `INSERT INTO objects (uuid, session_id, user_id, pool_id, rel_path, size, sha256, mime, created_at)
       VALUES (@uuid, @session_id, @user_id, @pool_id, @rel_path, @size, @sha256, @mime, @created_at)`,
    ),
    insertCopy: db.prepare(
      `INSERT INTO objects (uuid, session_id, user_id, pool_id, rel_path, size, sha256, mime, created_at, status,
         width, height, format, variants, thumbnails_ready, origin, scrub_state, last_scrub_at, updated_at)
       VALUES (@uuid, @session_id, @user_id, @pool_id, @rel_path, @size, @sha256, @mime, @created_at, @status,
         @width, @height, @format, @variants, @thumbnails_ready, 'replica', 'ok', @now_ms, @now)`,
    ),
    repaired: db.prepare("UPDATE objects SET scrub_state = 'ok', last_scrub_at = @now_ms, updated_at = @now WHERE uuid = @uuid"),
    takeCopyState: db.prepare(
      `UPDATE objects SET status = @status, width = @width, height = @height, format = @format, variants = @variants,
         thumbnails_ready = @thumbnails_ready, failure_reason = NULL WHERE uuid = @uuid`,
    ),
    remove: db.prepare('DELETE FROM objects WHERE uuid = ?'),
    removeFromPool: db.prepare('DELETE FROM objects WHERE uuid = ? AND pool_id = ?'),
    setPool: db.prepare('UPDATE objects SET pool_id = ?, updated_at = ? WHERE uuid = ?'),
    restart: db.prepare(
      "UPDATE objects SET status = 'processing', thumbnails_ready = 0, variants = '[]', failure_reason = NULL WHERE uuid = ?",
    ),
    processing: db.prepare(
      `UPDATE objects SET status = @status, thumbnails_ready = @thumbnails_ready, width = @width, height = @height,
         format = @format, variants = @variants, failure_reason = @reason, updated_at = @now WHERE uuid = @uuid`,
    ),
    backupPending: db.prepare(
      `UPDATE objects SET backup_state = 'pending', backup_due_at = ?, backup_error = NULL
       WHERE uuid = ? AND backup_state = 'none' AND origin = 'upload'`,
    ),
    backupDone: db.prepare(
      `UPDATE objects SET backup_state = 'done', backup_key = ?, backed_up_at = ?, backup_error = NULL,
         backup_attempts = backup_attempts + 1 WHERE uuid = ? AND backup_state = 'pending' AND sha256 = ?`,
    ),
    backupFailed: db.prepare(
      "UPDATE objects SET backup_attempts = backup_attempts + 1, backup_error = ? WHERE uuid = ? AND backup_state = 'pending'",
    ),
    backupNone: db.prepare("UPDATE objects SET backup_state = 'none', backup_error = ? WHERE uuid = ? AND backup_state = 'pending'"),
    scrubOk: db.prepare("UPDATE objects SET scrub_state = 'ok', last_scrub_at = ? WHERE uuid = ? AND size = ? AND sha256 = ?"),
    scrubState: db.prepare('UPDATE objects SET scrub_state = ?, last_scrub_at = ? WHERE uuid = ?'),
  };
  return {
    get: (uuid) => s.get.get(uuid) as ObjectRow | undefined,
    count: () => s.count.get() as number,
    usedBytes: (poolId) => s.used.get(poolId) as number,
    insertUpload: (obj) => void s.insertUpload.run(obj),
    insertCopy: (row) => void s.insertCopy.run(row),
    markRepaired: (uuid, nowMs) => void s.repaired.run({ uuid, now_ms: nowMs, now: new Date(nowMs).toISOString() }),
    takeCopyState: (state) => void s.takeCopyState.run(state),
    remove: (uuid) => s.remove.run(uuid).changes === 1,
    removeFromPool: (uuid, poolId) => void s.removeFromPool.run(uuid, poolId),
    setPool: (uuid, poolId, nowIso) => void s.setPool.run(poolId, nowIso, uuid),
    restartProcessing: (uuid) => void s.restart.run(uuid),
    setProcessing: (update) => void s.processing.run(update),
    backupPending: (uuid, dueAt) => s.backupPending.run(dueAt, uuid).changes === 1,
    backupDone: (uuid, sha256, key, atMs) => s.backupDone.run(key, atMs, uuid, sha256).changes === 1,
    backupFailed: (uuid, error) => void s.backupFailed.run(error, uuid),
    backupNone: (uuid, reason) => void s.backupNone.run(reason, uuid),
    scrubOk: (uuid, size, sha256, nowMs) => s.scrubOk.run(nowMs, uuid, size, sha256).changes === 1,
    scrubState: (uuid, state, nowMs) => void s.scrubState.run(state, nowMs, uuid),
  };
}
