import type { Database } from 'better-sqlite3';

/** What is left of a deleted image: enough to delete its files and, after the grace, its backup. */
export interface DeletedObjectRow {
  image_uuid: string;
  app_id: string;
  user_id: string;
  pool_id: string;
  rel_path: string;
  size: number;
  sha256: string;
  /** JSON array of VariantFileInfo, as the object had them. */
  variants: string;
  deleted_at: number;
  /** 1 while a stored backup of it waits for deletion. */
  backup_pending: 0 | 1;
  backup_ensured_at: number | null;
  backup_deleted_at: number | null;
}

/** The tombstone as the delete writes it (`deleted_at` = now, nothing ensured or deleted yet). */
export type NewTombstone = Pick<
  DeletedObjectRow,
  'image_uuid' | 'app_id' | 'user_id' | 'pool_id' | 'rel_path' | 'size' | 'sha256' | 'variants' | 'backup_pending'
>;

/** A stored backup of a deleted image whose grace is over, with where it is and who stored it. */
export interface BackupToDelete extends DeletedObjectRow {
  bucket: string;
  object_key: string;
  /** The pool (and its node) that reported the backup stored. */
  backup_pool_id: string;
}

export interface DeletionSummary {
  /** Deleted images with a copy still on some node (delete jobs on their way). */
  images_with_copies: number;
  copies_to_delete: number;
  /** Stored backups of deleted images, still inside the grace period. */
  backups_in_grace: number;
  next_backup_delete_at: number | null;
  /** Stored backups of deleted images past the grace: a backup_delete job is (or will be) queued. */
  backups_due: number;
  backups_deleted: number;
}

/** The tombstones of deleted images (`deleted_objects`): the only code that writes that table. */
export interface DeletedObjectsRepo {
  get(uuid: string): DeletedObjectRow | undefined;
  insert(row: NewTombstone, now: number): void;
  /** A stored backup of the deleted image showed up late: the grace-period clean-up must see it. */
  markBackupPending(uuid: string): void;
  /** Stored backups of images deleted before `graceStart` whose job was not ensured since `ensuredBefore`. */
  backupsDue(graceStart: number, ensuredBefore: number, limit: number): BackupToDelete[];
  backupEnsured(uuid: string, now: number): void;
  backupDeleted(uuid: string, at: number): void;
  summary(now: number, graceMs: number): DeletionSummary;
}

/**
 * For the ledgers' report handlers: the size and hash of an image that was deleted (and is not
 * in `objects`), so a late report about it is checked against its bytes and recorded for
 * clean-up instead of refused as unknown.
 */
export function deletedImageLookup(db: Database): (uuid: string) => { size: number; sha256: string } | undefined {
  const stmt = db.prepare(
    'SELECT d.size, d.sha256 FROM deleted_objects d WHERE d.image_uuid = ? AND NOT EXISTS (SELECT 1 FROM objects o WHERE o.image_uuid = d.image_uuid)',
  );
  return (uuid) => stmt.get(uuid) as { size: number; sha256: string } | undefined;
}

export function deletedObjectsRepo(db: Database): DeletedObjectsRepo {
  const s = {
    get: db.prepare('SELECT * FROM deleted_objects WHERE image_uuid = ?'),
    insert: db.prepare(
      `INSERT INTO deleted_objects (image_uuid, app_id, user_id, pool_id, rel_path, size, sha256, variants, deleted_at, backup_pending)
       VALUES (@image_uuid, @app_id, @user_id, @pool_id, @rel_path, @size, @sha256, @variants, @now, @backup_pending)`,
    ),
    backupPending: db.prepare('UPDATE deleted_objects SET backup_pending = 1 WHERE image_uuid = ?'),
    backupsDue: db.prepare(
      `SELECT d.*, b.bucket, b.object_key, b.pool_id AS backup_pool_id FROM deleted_objects d
       JOIN backups b ON b.image_uuid = d.image_uuid
       WHERE d.backup_pending = 1 AND d.deleted_at <= @graceStart
         AND b.state = 'stored' AND b.bucket IS NOT NULL AND b.object_key IS NOT NULL
         AND (d.backup_ensured_at IS NULL OR d.backup_ensured_at < @ensuredBefore)
       ORDER BY d.deleted_at LIMIT @limit`,
    ),
    backupEnsured: db.prepare('UPDATE deleted_objects SET backup_ensured_at = ? WHERE image_uuid = ?'),
    backupDeleted: db.prepare('UPDATE deleted_objects SET backup_deleted_at = ?, backup_pending = 0 WHERE image_uuid = ?'),
    summary: db.prepare(
      `SELECT
         (SELECT count(DISTINCT c.image_uuid) FROM copies c JOIN deleted_objects d ON d.image_uuid = c.image_uuid) AS images_with_copies,
         (SELECT count(*) FROM copies c JOIN deleted_objects d ON d.image_uuid = c.image_uuid) AS copies_to_delete,
         coalesce(sum(d.deleted_at > @graceStart), 0) AS backups_in_grace,
         min(CASE WHEN d.deleted_at > @graceStart THEN d.deleted_at + @graceMs END) AS next_backup_delete_at,
         coalesce(sum(d.deleted_at <= @graceStart), 0) AS backups_due,
         (SELECT count(*) FROM deleted_objects WHERE backup_deleted_at IS NOT NULL) AS backups_deleted
       FROM deleted_objects d WHERE d.backup_pending = 1`,
    ),
  };
  return {
    get: (uuid) => s.get.get(uuid) as DeletedObjectRow | undefined,
    insert: (row, now) => void s.insert.run({ ...row, now }),
    markBackupPending: (uuid) => void s.backupPending.run(uuid),
    backupsDue: (graceStart, ensuredBefore, limit) => s.backupsDue.all({ graceStart, ensuredBefore, limit }) as BackupToDelete[],
    backupEnsured: (uuid, now) => void s.backupEnsured.run(now, uuid),
    backupDeleted: (uuid, at) => void s.backupDeleted.run(at, uuid),
    summary: (now, graceMs) => s.summary.get({ graceStart: now - graceMs, graceMs }) as DeletionSummary,
  };
}
