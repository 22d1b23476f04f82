import { BACKUP_SCHEDULED, BACKUP_STORED, type BackupScheduled, type BackupStored } from '../../shared/backup.js';
import { nodeObjects } from '../db/objects.js';
import type { Db } from '../db/open.js';
import { outboxTable } from '../db/outbox.js';

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
  const poolOf = db.prepare('SELECT pool_id FROM objects WHERE uuid = ?');
  const pending = db.prepare("SELECT uuid, backup_due_at AS due_at FROM objects WHERE backup_state = 'pending' ORDER BY backup_due_at");
  const count = db.prepare('SELECT count(*) AS n FROM objects WHERE backup_state = ?').pluck();
  // Writes go through the tables' owners; the reads above are this state machine's own views.
  const objects = nodeObjects(db);
  const outbox = outboxTable(db);

  const markDone = db.transaction((row: BackupRow, stored: { bucket: string; key: string; at: string }, nowMs: number) => {
    if (!objects.backupDone(row.uuid, row.sha256, stored.key, nowMs)) return false;
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
    outbox.add(BACKUP_STORED, payload, nowMs);
    return true;
  });

  return {
    get: (uuid) => get.get(uuid) as BackupRow | undefined,
    schedule(uuid, delayMs, nowMs) {
      const due = nowMs + delayMs;
      if (!objects.backupPending(uuid, due)) return undefined;
      if (delayMs > 0) {
        const { pool_id } = poolOf.get(uuid) as { pool_id: string };
        const payload: BackupScheduled = { image_uuid: uuid, node_id: nodeId, pool_id, due_at: new Date(due).toISOString() };
        outbox.add(BACKUP_SCHEDULED, payload, nowMs);
      }
      return due;
    },
    pending: () => pending.all() as { uuid: string; due_at: number }[],
    markDone,
    markFailed: (uuid, error) => objects.backupFailed(uuid, error.slice(0, 500)),
    markNone: (uuid, reason) => objects.backupNone(uuid, reason),
    count: (state) => count.get(state) as number,
  };
}
