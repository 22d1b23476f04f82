import type { Database } from 'better-sqlite3';
import type { BackupScheduled, BackupStored } from '../../shared/backup.js';
import { errors } from '../../shared/errors.js';
import { LIVE_OK } from './counted-copies.js';
import { type DeletedObjectsRepo, deletedImageLookup } from './deleted-objects.js';

export type BackupState = 'none' | 'scheduled' | 'stored';

export interface BackupRow {
  image_uuid: string;
  state: Exclude<BackupState, 'none'>;
  node_id: string;
  pool_id: string;
  due_at: number | null;
  bucket: string | null;
  object_key: string | null;
  backed_up_at: number | null;
  created_at: number;
  updated_at: number;
}

/** The app's view of an object's backup: where it is stays out (bucket and key are the operator's). */
export interface BackupView {
  state: BackupState;
  due_at: string | null;
  stored_at: string | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function backupView(b: BackupRow | undefined): BackupView {
  return { state: b?.state ?? 'none', due_at: iso(b?.due_at ?? null), stored_at: iso(b?.backed_up_at ?? null) };
}

/** How an object is protected: good copies on nodes in service, and whether S3 has it. */
export type S3Protection = 'yes' | 'pending' | 'no';

export interface ProtectionClass {
  copies: number;
  s3: S3Protection;
  objects: number;
  bytes: number;
  /** Earliest and latest due time of the scheduled backups in the class (null unless s3 = pending). */
  oldest_due_at: number | null;
  latest_due_at: number | null;
  /** Scheduled backups already past their due time (the node has not reported them stored). */
  overdue: number;
  /** 1 for objects whose home is the S3 cold tier (a good copy in an s3 pool; `s3` is then 'yes'). */
  cold: 0 | 1;
}

export interface ScrubSummary {
  unscrubbed: number;
  oldest_scrub_at: number | null;
}

/** The pool `cp` holding copy `c` is a directory on the node (a copy in an s3 pool is the bucket's). */
const ON_DISK = `(cp.type <> 's3')`;

/**
 * The backups ledger: what nodes reported about S3 backups, and the protection summary built on
 * it together with the copies ledger. Reports are idempotent and a stored backup is final. The
 * only code that writes `backups`.
 */
export interface BackupsRepo {
  get(uuid: string): BackupRow | undefined;
  /** `backup.scheduled`: the window opens; a later report moves the due time, a stored backup stays. */
  scheduled(r: BackupScheduled, now: number): { state: BackupState; changed: boolean };
  /**
   * `backup.stored`: only the object's exact bytes count (422 otherwise, for good). The first
   * stored location is kept; a later report of another location changes nothing (`other_location`).
   */
  stored(r: BackupStored, now: number): { state: BackupState; changed: boolean; other_location: boolean };
  /** A deleted image's backup not made yet is not made. */
  cancelScheduled(uuid: string): void;
  /** The backup's keys left the bucket. */
  remove(uuid: string): void;
  /** Objects by protection class (one GROUP BY); `poolId` keeps objects homed on that pool. */
  protection(now: number, poolId?: string | null): ProtectionClass[];
  scrubs(poolId?: string | null): ScrubSummary;
}

export function backupsRepo(db: Database, deletedObjects: DeletedObjectsRepo): BackupsRepo {
  const s = {
    get: db.prepare('SELECT * FROM backups WHERE image_uuid = ?'),
    object: db.prepare('SELECT image_uuid, size, sha256 FROM objects WHERE image_uuid = ?'),
    poolNode: db.prepare('SELECT node_id FROM pools WHERE pool_id = ?').pluck(),
    cancelScheduled: db.prepare("DELETE FROM backups WHERE image_uuid = ? AND state = 'scheduled'"),
    remove: db.prepare('DELETE FROM backups WHERE image_uuid = ?'),
    // Holds a copy (any state), is the primary, or was the source of a move of the object.
    holder: db
      .prepare(
        `SELECT EXISTS (SELECT 1 FROM copies WHERE image_uuid = @uuid AND node_id = @node)
             OR EXISTS (SELECT 1 FROM objects WHERE image_uuid = @uuid AND node_id = @node)
             OR EXISTS (SELECT 1 FROM move_items mi JOIN moves m ON m.move_id = mi.move_id
                        JOIN pools p ON p.pool_id = m.source_pool_id
                        WHERE mi.image_uuid = @uuid AND p.node_id = @node)`,
      )
      .pluck(),
    upsert: db.prepare(
      `INSERT INTO backups (image_uuid, state, node_id, pool_id, due_at, bucket, object_key, backed_up_at, created_at, updated_at)
       VALUES (@image_uuid, @state, @node_id, @pool_id, @due_at, @bucket, @object_key, @backed_up_at, @now, @now)
       ON CONFLICT (image_uuid) DO UPDATE SET state = excluded.state, node_id = excluded.node_id,
         pool_id = excluded.pool_id, due_at = coalesce(excluded.due_at, backups.due_at), bucket = excluded.bucket,
         object_key = excluded.object_key, backed_up_at = excluded.backed_up_at, updated_at = excluded.updated_at`,
    ),
    // One pass over the objects: each object's live copies (a correlated count on the copies
    // primary key) and its backup state, grouped into classes.
    // Copies are those on disk; a good copy in an s3 pool (the cold tier) makes the object `cold`
    // and in S3 whatever its backup says.
    protection: db.prepare(
      `SELECT p.copies, p.s3, p.cold, count(*) AS objects, coalesce(sum(p.size), 0) AS bytes,
              min(p.due_at) AS oldest_due_at, max(p.due_at) AS latest_due_at,
              coalesce(sum(p.due_at < @now), 0) AS overdue
       FROM (
         SELECT q.size, q.copies, q.cold,
                CASE WHEN q.cold = 1 OR q.backup = 'stored' THEN 'yes' WHEN q.backup = 'scheduled' THEN 'pending' ELSE 'no' END AS s3,
                CASE WHEN q.backup = 'scheduled' AND q.cold = 0 THEN q.backup_due_at END AS due_at
         FROM (
           SELECT o.size, b.state AS backup, b.due_at AS backup_due_at,
                  (SELECT count(DISTINCT c.node_id) FROM copies c JOIN nodes n ON n.node_id = c.node_id JOIN pools cp ON cp.pool_id = c.pool_id
                   WHERE c.image_uuid = o.image_uuid AND ${LIVE_OK} AND ${ON_DISK}) AS copies,
                  EXISTS (SELECT 1 FROM copies c JOIN nodes n ON n.node_id = c.node_id JOIN pools cp ON cp.pool_id = c.pool_id
                          WHERE c.image_uuid = o.image_uuid AND ${LIVE_OK} AND NOT ${ON_DISK}) AS cold
           FROM objects o LEFT JOIN backups b ON b.image_uuid = o.image_uuid
           WHERE @pool IS NULL OR o.home_pool_id = @pool
         ) q
       ) p
       GROUP BY p.copies, p.s3, p.cold
       ORDER BY p.cold, p.copies DESC, CASE p.s3 WHEN 'yes' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END`,
    ),
    scrubs: db.prepare(
      `SELECT coalesce(sum(c.last_scrub_at IS NULL), 0) AS unscrubbed, min(c.last_scrub_at) AS oldest_scrub_at
       FROM copies c JOIN nodes n ON n.node_id = c.node_id JOIN objects o ON o.image_uuid = c.image_uuid
         JOIN pools cp ON cp.pool_id = c.pool_id
       WHERE ${LIVE_OK} AND ${ON_DISK} AND (@pool IS NULL OR o.home_pool_id = @pool)`,
    ),
  };

  const deletedImage = deletedImageLookup(db);
  const requireObject = (uuid: string) => {
    const o = s.object.get(uuid) as { image_uuid: string; size: number; sha256: string } | undefined;
    if (!o) throw errors.notFound('unknown_object', `no image ${uuid}`);
    return o;
  };
  /** The reporting node speaks for its own pool and for an object it holds or held. */
  const requireHolder = (r: { image_uuid: string; node_id: string; pool_id: string }) => {
    if (s.poolNode.get(r.pool_id) !== r.node_id)
      throw errors.conflict('pool_mismatch', `pool ${r.pool_id} is not a pool of node ${r.node_id}`);
    if (s.holder.get({ uuid: r.image_uuid, node: r.node_id }) !== 1)
      throw errors.forbidden('not_a_holder', `node ${r.node_id} holds no copy of ${r.image_uuid}`);
  };
  const get = (uuid: string) => s.get.get(uuid) as BackupRow | undefined;

  return {
    get,

    scheduled: db.transaction((r: BackupScheduled, now: number): { state: BackupState; changed: boolean } => {
      // The image was deleted before the report arrived: no window to show, nothing will be backed up.
      if (deletedImage(r.image_uuid)) return { state: 'none', changed: false };
      requireObject(r.image_uuid);
      requireHolder(r);
      const due = Date.parse(r.due_at);
      if (!Number.isFinite(due)) throw errors.badRequest('invalid_body', `due_at: not a date: ${r.due_at}`);
      const existing = get(r.image_uuid);
      if (existing?.state === 'stored') return { state: 'stored', changed: false };
      if (existing?.state === 'scheduled' && existing.due_at === due) return { state: 'scheduled', changed: false };
      s.upsert.run({
        image_uuid: r.image_uuid,
        state: 'scheduled',
        node_id: r.node_id,
        pool_id: r.pool_id,
        due_at: due,
        bucket: null,
        object_key: null,
        backed_up_at: null,
        now,
      });
      return { state: 'scheduled', changed: true };
    }),

    stored: db.transaction((r: BackupStored, now: number): { state: BackupState; changed: boolean; other_location: boolean } => {
      // A backup that finished after its image was deleted is recorded all the same, so the
      // grace-period clean-up deletes it too (the copies that made the node a holder may be gone).
      const gone = deletedImage(r.image_uuid);
      const o = gone ?? requireObject(r.image_uuid);
      if (gone) {
        if (s.poolNode.get(r.pool_id) !== r.node_id)
          throw errors.conflict('pool_mismatch', `pool ${r.pool_id} is not a pool of node ${r.node_id}`);
      } else requireHolder(r);
      if (o.size !== r.size || o.sha256 !== r.sha256)
        throw errors.checksumMismatch(`backup of ${r.image_uuid} has other bytes than the object`);
      const existing = get(r.image_uuid);
      if (existing?.state === 'stored')
        return { state: 'stored', changed: false, other_location: existing.bucket !== r.bucket || existing.object_key !== r.key };
      const at = Date.parse(r.at);
      s.upsert.run({
        image_uuid: r.image_uuid,
        state: 'stored',
        node_id: r.node_id,
        pool_id: r.pool_id,
        due_at: null,
        bucket: r.bucket,
        object_key: r.key,
        backed_up_at: Number.isFinite(at) ? at : now,
        now,
      });
      // A deleted image's backup that landed late: the grace-period clean-up must see it.
      if (gone) deletedObjects.markBackupPending(r.image_uuid);
      return { state: 'stored', changed: true, other_location: false };
    }),

    cancelScheduled: (uuid) => void s.cancelScheduled.run(uuid),
    remove: (uuid) => void s.remove.run(uuid),
    protection: (now, poolId = null) => s.protection.all({ now, pool: poolId }) as ProtectionClass[],
    scrubs: (poolId = null) => s.scrubs.get({ pool: poolId }) as ScrubSummary,
  };
}
