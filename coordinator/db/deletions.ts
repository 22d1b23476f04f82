import type { Database } from 'better-sqlite3';
import type { BackupDeleted } from '../../shared/backup.js';
import { errors } from '../../shared/errors.js';

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

/** A stored backup of a deleted image whose grace is over, with where it is and who stored it. */
export interface BackupToDelete extends DeletedObjectRow {
  bucket: string;
  object_key: string;
  /** The pool (and its node) that reported the backup stored. */
  backup_pool_id: string;
}

export type DeleteOutcome =
  | { outcome: 'deleted'; row: DeletedObjectRow; copies: number; backup: 'stored' | 'cancelled' | 'none' }
  | { outcome: 'already' }
  | { outcome: 'not_found' };

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

/**
 * Image delete. The object leaves `objects` in one transaction — from then on no scan, placement,
 * restore or move sees it — and a tombstone row in `deleted_objects` drives the clean-up: every
 * copy becomes `deleting` (the durability loop's delete jobs remove the files and their
 * copy.deleted removes the rows), and a stored S3 backup stays until the grace period is over.
 */
export function deletionsRepo(db: Database) {
  const s = {
    object: db.prepare('SELECT * FROM objects WHERE image_uuid = ?'),
    get: db.prepare('SELECT * FROM deleted_objects WHERE image_uuid = ?'),
    tombstone: db.prepare(
      `INSERT INTO deleted_objects (image_uuid, app_id, user_id, pool_id, rel_path, size, sha256, variants, deleted_at, backup_pending)
       VALUES (@image_uuid, @app_id, @user_id, @pool_id, @rel_path, @size, @sha256, @variants, @now, @pending)`,
    ),
    copiesDeleting: db.prepare(
      `UPDATE copies SET state = 'deleting', reason = 'image deleted', attempts = 0, ensured_at = NULL, updated_at = ?
       WHERE image_uuid = ? AND state <> 'deleting'`,
    ),
    copyCount: db.prepare('SELECT count(*) FROM copies WHERE image_uuid = ?').pluck(),
    // An item still to copy has nothing to do; a queued job finding it done deletes its source copy.
    moveItemsDone: db.prepare(
      `UPDATE move_items SET state = 'done', bytes = 0, error = 'image deleted', updated_at = ?
       WHERE image_uuid = ? AND state IN ('planned', 'queued')`,
    ),
    backupState: db.prepare('SELECT state FROM backups WHERE image_uuid = ?').pluck(),
    cancelScheduled: db.prepare("DELETE FROM backups WHERE image_uuid = ? AND state = 'scheduled'"),
    usage: db.prepare(
      'UPDATE users SET used_bytes = max(0, used_bytes - ?), objects = max(0, objects - 1) WHERE user_id = ?',
    ),
    remove: db.prepare('DELETE FROM objects WHERE image_uuid = ?'),
    backupsDue: db.prepare(
      `SELECT d.*, b.bucket, b.object_key, b.pool_id AS backup_pool_id FROM deleted_objects d
       JOIN backups b ON b.image_uuid = d.image_uuid
       WHERE d.backup_pending = 1 AND d.deleted_at <= @graceStart
         AND b.state = 'stored' AND b.bucket IS NOT NULL AND b.object_key IS NOT NULL
         AND (d.backup_ensured_at IS NULL OR d.backup_ensured_at < @ensuredBefore)
       ORDER BY d.deleted_at LIMIT @limit`,
    ),
    backupEnsured: db.prepare('UPDATE deleted_objects SET backup_ensured_at = ? WHERE image_uuid = ?'),
    storedBackup: db.prepare("SELECT bucket, object_key FROM backups WHERE image_uuid = ? AND state = 'stored'"),
    backupGone: db.prepare('DELETE FROM backups WHERE image_uuid = ?'),
    backupDeletedAt: db.prepare('UPDATE deleted_objects SET backup_deleted_at = ?, backup_pending = 0 WHERE image_uuid = ?'),
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
  const get = (uuid: string) => s.get.get(uuid) as DeletedObjectRow | undefined;

  return {
    get,

    /** `DELETE /api/v1/images/{uuid}` for `appId`: only its own images (another app's is not_found). */
    delete: db.transaction((uuid: string, appId: string, now: number): DeleteOutcome => {
      const o = s.object.get(uuid) as
        | (Pick<DeletedObjectRow, 'image_uuid' | 'app_id' | 'user_id' | 'pool_id' | 'rel_path' | 'size' | 'sha256' | 'variants'> & { home_pool_id: string | null })
        | undefined;
      if (!o) return get(uuid)?.app_id === appId ? { outcome: 'already' } : { outcome: 'not_found' };
      if (o.app_id !== appId) return { outcome: 'not_found' };
      const state = s.backupState.get(uuid) as 'scheduled' | 'stored' | undefined;
      s.tombstone.run({
        image_uuid: o.image_uuid, app_id: o.app_id, user_id: o.user_id, pool_id: o.home_pool_id ?? o.pool_id,
        rel_path: o.rel_path, size: o.size, sha256: o.sha256, variants: o.variants, now, pending: state === 'stored' ? 1 : 0,
      });
      s.copiesDeleting.run(now, uuid);
      s.moveItemsDone.run(now, uuid);
      // A delayed backup not made yet is not made: the uploading node's delete job removes its row.
      if (state === 'scheduled') s.cancelScheduled.run(uuid);
      s.usage.run(o.size, o.user_id);
      s.remove.run(uuid);
      return {
        outcome: 'deleted',
        row: get(uuid)!,
        copies: s.copyCount.get(uuid) as number,
        backup: state === 'stored' ? 'stored' : state === 'scheduled' ? 'cancelled' : 'none',
      };
    }),

    /** Stored backups of images deleted before `graceStart` whose job was not ensured since `ensuredBefore`. */
    backupsDue: (graceStart: number, ensuredBefore: number, limit: number) =>
      s.backupsDue.all({ graceStart, ensuredBefore, limit }) as BackupToDelete[],
    backupEnsured: (uuid: string, now: number) => void s.backupEnsured.run(now, uuid),

    /**
     * `backup.deleted`: the node removed the keys from the bucket. Only for a deleted image and
     * the location the ledger has (409 otherwise, for good); a repeat changes nothing.
     */
    backupDeleted: db.transaction((r: BackupDeleted, now: number): { changed: boolean } => {
      const d = get(r.image_uuid);
      if (!d) throw errors.conflict('not_deleted', `image ${r.image_uuid} is not deleted; its backup stays`);
      const b = s.storedBackup.get(r.image_uuid) as { bucket: string; object_key: string } | undefined;
      if (!b) return { changed: false };
      if (b.bucket !== r.bucket || !r.keys.includes(b.object_key))
        throw errors.conflict('other_location', `the backup of ${r.image_uuid} is at ${b.bucket}/${b.object_key}`);
      s.backupGone.run(r.image_uuid);
      s.backupDeletedAt.run(Date.parse(r.at) || now, r.image_uuid);
      return { changed: true };
    }),

    summary(now: number, graceMs: number): DeletionSummary {
      return s.summary.get({ graceStart: now - graceMs, graceMs }) as DeletionSummary;
    },
  };
}
export type DeletionsRepo = ReturnType<typeof deletionsRepo>;
