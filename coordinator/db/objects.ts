import type { Database } from 'better-sqlite3';
import type { ImageEventType } from '../../shared/api.js';

export interface ObjectRow {
  image_uuid: string;
  app_id: string;
  user_id: string;
  session_id: string;
  /** The primary copy: where /i and the image API point. */
  pool_id: string;
  /** The pool whose replication factor and tier govern the object (upload or move target). */
  home_pool_id: string;
  node_id: string;
  rel_path: string;
  size: number;
  sha256: string;
  mime: string;
  visibility: string;
  state: string;
  status: 'processing' | 'ready' | 'failed';
  created_at: number;
  width: number | null;
  height: number | null;
  format: string | null;
  /** JSON array of VariantFileInfo (shared/api.ts), as the node reported them. */
  variants: string;
  thumbnails_ready: 0 | 1;
  failure_reason: string | null;
  /** Joined from the pool, so URLs follow a pool's current public address. */
  public_base_url: string;
}

/** A completed upload as it enters the index (home = the pool it was uploaded to). */
export type NewObject = Pick<
  ObjectRow,
  | 'image_uuid'
  | 'app_id'
  | 'user_id'
  | 'session_id'
  | 'pool_id'
  | 'node_id'
  | 'rel_path'
  | 'size'
  | 'sha256'
  | 'mime'
  | 'visibility'
  | 'created_at'
>;

/** A node's variant milestone, applied only while the object is still processing. */
export interface ProcessingOutcome {
  event: ImageEventType;
  width: number | null;
  height: number | null;
  format: string | null;
  /** JSON array of VariantFileInfo. */
  variants: string;
  reason: string;
}

/**
 * The object index: uuid → where the file is, whose it is, what it is. The only code that
 * writes `objects`; every other repo reads it and composes these writers in its transactions.
 */
export interface ObjectsRepo {
  get(imageUuid: string): ObjectRow | undefined;
  /** A stored object this user of this app already has with these bytes. */
  findDuplicate(appId: string, userId: string, sha256: string): ObjectRow | undefined;
  /** The newest objects whose processing failed (the admin page's "recent failures"). */
  recentFailures(limit: number): ObjectRow[];
  exists(imageUuid: string): boolean;
  /** Objects whose primary is on the node. */
  countOnNode(nodeId: string): number;
  insert(o: NewObject): void;
  /** Returns whether the object was still processing (a repeated or late milestone changes nothing). */
  settleProcessing(imageUuid: string, outcome: ProcessingOutcome): boolean;
  /** Points the primary at another copy. */
  setPrimary(imageUuid: string, poolId: string, nodeId: string): void;
  /**
   * A move of `fromPool` to `toPool` finished for this object: the primary follows when it was in
   * `fromPool`, and the home (factor and tier) when it was there — the operator moved it.
   */
  moveTo(imageUuid: string, fromPool: string, toPool: string, toNode: string): void;
  /** Objects homed on a pool of a node that goes keep a factor: their primary's pool becomes home. */
  rehomeOffNode(nodeId: string): void;
  /** Removes the row; returns whether there was one. */
  remove(imageUuid: string): boolean;
}

const SELECT = `SELECT o.*, p.public_base_url FROM objects o JOIN pools p ON p.pool_id = o.pool_id`;

export function objectsRepo(db: Database): ObjectsRepo {
  const s = {
    get: db.prepare(`${SELECT} WHERE o.image_uuid = ?`),
    duplicate: db.prepare(`${SELECT} WHERE o.app_id = ? AND o.user_id = ? AND o.sha256 = ? AND o.state = 'stored' LIMIT 1`),
    failed: db.prepare(`${SELECT} WHERE o.status = 'failed' ORDER BY o.created_at DESC LIMIT ?`),
    exists: db.prepare('SELECT 1 FROM objects WHERE image_uuid = ?').pluck(),
    countOnNode: db.prepare('SELECT count(*) FROM objects WHERE node_id = ?').pluck(),
    insert: db.prepare(
      `INSERT INTO objects (image_uuid, app_id, user_id, session_id, pool_id, home_pool_id, node_id, rel_path, size, sha256,
         mime, visibility, state, status, created_at)
       VALUES (@image_uuid, @app_id, @user_id, @session_id, @pool_id, @pool_id, @node_id, @rel_path, @size, @sha256,
         @mime, @visibility, 'stored', 'processing', @created_at)`,
    ),
    thumbnailsReady: db.prepare(
      `UPDATE objects SET thumbnails_ready = 1, width = @width, height = @height, format = @format, variants = @variants
       WHERE image_uuid = @uuid AND status = 'processing' AND thumbnails_ready = 0`,
    ),
    ready: db.prepare(
      `UPDATE objects SET status = 'ready', thumbnails_ready = 1, width = @width, height = @height, format = @format,
         variants = @variants, failure_reason = NULL
       WHERE image_uuid = @uuid AND status = 'processing'`,
    ),
    markFailed: db.prepare(
      `UPDATE objects SET status = 'failed', failure_reason = @reason, variants = @variants
       WHERE image_uuid = @uuid AND status = 'processing'`,
    ),
    setPrimary: db.prepare('UPDATE objects SET pool_id = ?, node_id = ? WHERE image_uuid = ?'),
    movePrimary: db.prepare('UPDATE objects SET pool_id = ?, node_id = ? WHERE image_uuid = ? AND pool_id = ?'),
    moveHome: db.prepare('UPDATE objects SET home_pool_id = ? WHERE image_uuid = ? AND home_pool_id = ?'),
    rehomeOffNode: db.prepare(
      'UPDATE objects SET home_pool_id = pool_id WHERE home_pool_id IN (SELECT pool_id FROM pools WHERE node_id = ?)',
    ),
    remove: db.prepare('DELETE FROM objects WHERE image_uuid = ?'),
  };
  const milestone = { 'image.thumbnails_ready': s.thumbnailsReady, 'image.ready': s.ready, 'image.failed': s.markFailed };
  return {
    get: (imageUuid) => s.get.get(imageUuid) as ObjectRow | undefined,
    findDuplicate: (appId, userId, sha256) => s.duplicate.get(appId, userId, sha256) as ObjectRow | undefined,
    recentFailures: (limit) => s.failed.all(limit) as ObjectRow[],
    exists: (imageUuid) => s.exists.get(imageUuid) === 1,
    countOnNode: (nodeId) => s.countOnNode.get(nodeId) as number,
    insert: (o) => void s.insert.run(o),
    settleProcessing: (uuid, { event, ...params }) => milestone[event].run({ uuid, ...params }).changes === 1,
    setPrimary: (imageUuid, poolId, nodeId) => void s.setPrimary.run(poolId, nodeId, imageUuid),
    moveTo(imageUuid, fromPool, toPool, toNode) {
      s.movePrimary.run(toPool, toNode, imageUuid, fromPool);
      s.moveHome.run(toPool, imageUuid, fromPool);
    },
    rehomeOffNode: (nodeId) => void s.rehomeOffNode.run(nodeId),
    remove: (imageUuid) => s.remove.run(imageUuid).changes === 1,
  };
}
