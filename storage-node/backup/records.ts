import { BACKUP_SCHEDULED, BACKUP_STORED, type BackupScheduled, type BackupStored } from '../../shared/backup.js';
import type { Db } from '../db.js';

export type BackupState = 'none' | 'pending' | 'done';

/** An object as the backup job sees it. */
export interface BackupRow {
  uuid: string;
  pool_id: string;
  rel_path: string;
  size: number;
  sha256: string;
  mime: string;
  variants: string;
  origin: string;
  backup_state: BackupState;
  backup_due_at: number | null;
  backup_key: string | null;
  backed_up_at: number | null;
  backup_attempts: number;
  backup_error: string | null;
}

/**
 * The backup state machine in the node's SQLite: `none` → `pending` (when the variants job ends,
 * in the same transaction as the milestone) → `done` (with its `backup.stored` outbox row, once
 * the object is verified in the bucket). A failed attempt keeps `pending` and records why.
 */
export interface BackupRecords {
  get(uuid: string): BackupRow | undefined;
  /**
   * Inside the caller's transaction: the object becomes pending, due in `delayMs`; a delayed one
   * also gets its `backup.scheduled` row. Only uploads taken here are backed up (a replica's
   * original is the uploading node's to back up); returns the due time, or undefined if nothing changed.
   */
  schedule(uuid: string, delayMs: number, nowMs: number): number | undefined;
  /** Every pending backup (the queue is rebuilt from these). */
  pending(): { uuid: string; due_at: number }[];
  /** The object is in the bucket under `key`, with the right size and SHA-256. */
  markDone(row: BackupRow, stored: Omit<BackupStored, 'image_uuid' | 'node_id' | 'pool_id' | 'size' | 'sha256'>, nowMs: number): boolean;
  /** An attempt failed: still pending, the reason kept for the operator. */
  markFailed(uuid: string, error: string): void;
  /** The object's pool has no backup target any more (moved within the node): nothing to do. */
  markNone(uuid: string, reason: string): void;
  count(state: BackupState): number;
}

export function createBackupRecords(db: Db, nodeId: string): BackupRecords {
  const get = db.prepare(
    `SELECT uuid, pool_id, rel_path, size, sha256, mime, variants, origin, backup_state, backup_due_at, backup_key,
       backed_up_at, backup_attempts, backup_error FROM objects WHERE uuid = ?`,
  );
  const setPending = db.prepare(
    `UPDATE objects SET backup_state = 'pending', backup_due_at = ?, backup_error = NULL
     WHERE uuid = ? AND backup_state = 'none' AND origin = 'upload'`,
  );
  const poolOf = db.prepare('SELECT pool_id FROM objects WHERE uuid = ?');
  const pending = db.prepare("SELECT uuid, backup_due_at AS due_at FROM objects WHERE backup_state = 'pending' ORDER BY backup_due_at");
  const setDone = db.prepare(
    `UPDATE objects SET backup_state = 'done', backup_key = ?, backed_up_at = ?, backup_error = NULL,
       backup_attempts = backup_attempts + 1 WHERE uuid = ? AND backup_state = 'pending' AND sha256 = ?`,
  );
  const setFailed = db.prepare(
    "UPDATE objects SET backup_attempts = backup_attempts + 1, backup_error = ? WHERE uuid = ? AND backup_state = 'pending'",
  );
  const setNone = db.prepare("UPDATE objects SET backup_state = 'none', backup_error = ? WHERE uuid = ? AND backup_state = 'pending'");
  const count = db.prepare('SELECT count(*) AS n FROM objects WHERE backup_state = ?').pluck();
  const outbox = db.prepare('INSERT INTO outbox (kind, payload, next_attempt_at, created_at) VALUES (?, ?, ?, ?)');

  const markDone = db.transaction((row: BackupRow, stored: { bucket: string; key: string; at: string }, nowMs: number) => {
    if (setDone.run(stored.key, nowMs, row.uuid, row.sha256).changes !== 1) return false;
    const payload: BackupStored = {
      image_uuid: row.uuid,
      node_id: nodeId,
      pool_id: row.pool_id,
      bucket: stored.bucket,
      key: stored.key,
      size: row.size,
      sha256: row.sha256,
      at: stored.at,
    };
    outbox.run(BACKUP_STORED, JSON.stringify(payload), nowMs, nowMs);
    return true;
  });

  return {
    get: (uuid) => get.get(uuid) as BackupRow | undefined,
    schedule(uuid, delayMs, nowMs) {
      const due = nowMs + delayMs;
      if (setPending.run(due, uuid).changes !== 1) return undefined;
      if (delayMs > 0) {
        const { pool_id } = poolOf.get(uuid) as { pool_id: string };
        const payload: BackupScheduled = { image_uuid: uuid, node_id: nodeId, pool_id, due_at: new Date(due).toISOString() };
        outbox.run(BACKUP_SCHEDULED, JSON.stringify(payload), nowMs, nowMs);
      }
      return due;
    },
    pending: () => pending.all() as { uuid: string; due_at: number }[],
    markDone,
    markFailed: (uuid, error) => void setFailed.run(error.slice(0, 500), uuid),
    markNone: (uuid, reason) => void setNone.run(reason, uuid),
    count: (state) => count.get(state) as number,
  };
}
