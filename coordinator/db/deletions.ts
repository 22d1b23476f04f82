import type { Database } from 'better-sqlite3';
import type { BackupDeleted } from '../../shared/backup.js';
import { errors } from '../../shared/errors.js';
import type { BackupsRepo } from './backups.js';
import type { CopiesRepo } from './copies.js';
import type { BackupToDelete, DeletedObjectRow, DeletedObjectsRepo, DeletionSummary } from './deleted-objects.js';
import type { MovesRepo } from './moves.js';
import type { ObjectsRepo } from './objects.js';
import type { UsersRepo } from './users.js';

export type { BackupToDelete, DeletedObjectRow, DeletionSummary } from './deleted-objects.js';

export type DeleteOutcome =
  | { outcome: 'deleted'; row: DeletedObjectRow; copies: number; backup: 'stored' | 'cancelled' | 'none' }
  | { outcome: 'already' }
  | { outcome: 'not_found' };

/** Image delete and the clean-up of what it leaves (tombstones, stored backups past the grace). */
export interface DeletionsRepo {
  get(uuid: string): DeletedObjectRow | undefined;
  /** `DELETE /api/v1/images/{uuid}` for `appId`: only its own images (another app's is not_found). */
  delete(uuid: string, appId: string, now: number): DeleteOutcome;
  /** Stored backups of images deleted before `graceStart` whose job was not ensured since `ensuredBefore`. */
  backupsDue(graceStart: number, ensuredBefore: number, limit: number): BackupToDelete[];
  backupEnsured(uuid: string, now: number): void;
  /**
   * `backup.deleted`: the node removed the keys from the bucket. Only for a deleted image and
   * the location the ledger has (409 otherwise, for good); a repeat changes nothing.
   */
  backupDeleted(r: BackupDeleted, now: number): { changed: boolean };
  summary(now: number, graceMs: number): DeletionSummary;
}

/** The owners of the tables a delete changes; each writes its own table. */
export interface DeletionWriters {
  objects: ObjectsRepo;
  copies: CopiesRepo;
  moves: MovesRepo;
  backups: BackupsRepo;
  users: UsersRepo;
  deletedObjects: DeletedObjectsRepo;
}

/**
 * Image delete. The object leaves `objects` in one transaction — from then on no scan, placement,
 * restore or move sees it — and a tombstone row in `deleted_objects` drives the clean-up: every
 * copy becomes `deleting` (the durability loop's delete jobs remove the files and their
 * copy.deleted removes the rows), and a stored S3 backup stays until the grace period is over.
 */
export function deletionsRepo(db: Database, w: DeletionWriters): DeletionsRepo {
  const object = db.prepare('SELECT * FROM objects WHERE image_uuid = ?');
  const { deletedObjects } = w;

  return {
    get: deletedObjects.get,

    delete: db.transaction((uuid: string, appId: string, now: number): DeleteOutcome => {
      const o = object.get(uuid) as
        | (Pick<DeletedObjectRow, 'image_uuid' | 'app_id' | 'user_id' | 'pool_id' | 'rel_path' | 'size' | 'sha256' | 'variants'> & {
            home_pool_id: string | null;
          })
        | undefined;
      if (!o) return deletedObjects.get(uuid)?.app_id === appId ? { outcome: 'already' } : { outcome: 'not_found' };
      if (o.app_id !== appId) return { outcome: 'not_found' };
      const state = w.backups.get(uuid)?.state;
      deletedObjects.insert(
        {
          image_uuid: o.image_uuid,
          app_id: o.app_id,
          user_id: o.user_id,
          pool_id: o.home_pool_id ?? o.pool_id,
          rel_path: o.rel_path,
          size: o.size,
          sha256: o.sha256,
          variants: o.variants,
          backup_pending: state === 'stored' ? 1 : 0,
        },
        now,
      );
      w.copies.markImageDeleting(uuid, now);
      w.moves.settleDeletedImage(uuid, now);
      // A delayed backup not made yet is not made: the uploading node's delete job removes its row.
      if (state === 'scheduled') w.backups.cancelScheduled(uuid);
      w.users.releaseUsage(o.app_id, o.user_id, o.size);
      w.objects.remove(uuid);
      return {
        outcome: 'deleted',
        row: deletedObjects.get(uuid)!,
        copies: w.copies.countOfImage(uuid),
        backup: state === 'stored' ? 'stored' : state === 'scheduled' ? 'cancelled' : 'none',
      };
    }),

    backupsDue: deletedObjects.backupsDue,
    backupEnsured: deletedObjects.backupEnsured,

    backupDeleted: db.transaction((r: BackupDeleted, now: number): { changed: boolean } => {
      const d = deletedObjects.get(r.image_uuid);
      if (!d) throw errors.conflict('not_deleted', `image ${r.image_uuid} is not deleted; its backup stays`);
      const b = w.backups.get(r.image_uuid);
      if (b?.state !== 'stored') return { changed: false };
      if (b.bucket !== r.bucket || b.object_key === null || !r.keys.includes(b.object_key))
        throw errors.conflict('other_location', `the backup of ${r.image_uuid} is at ${b.bucket}/${b.object_key}`);
      w.backups.remove(r.image_uuid);
      deletedObjects.backupDeleted(r.image_uuid, Date.parse(r.at) || now);
      return { changed: true };
    }),

    summary: deletedObjects.summary,
  };
}
