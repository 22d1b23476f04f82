import type { Database } from 'better-sqlite3';
import { AppError, errors } from '../../shared/errors.js';
import type { CopiesScrubbed, CopyCorrupt, CopyDeleted, CopyStored } from '../../shared/replication.js';
import { COUNTED, HOLDING, LIVE_OK } from './counted-copies.js';
import { deletedImageLookup } from './deleted-objects.js';
import type { NodeState } from './nodes.js';
import type { ObjectsRepo } from './objects.js';

export type CopyState = 'pending' | 'ok' | 'corrupt' | 'deleting';

export interface CopyRow {
  image_uuid: string;
  pool_id: string;
  node_id: string;
  state: CopyState;
  size: number;
  sha256: string;
  last_scrub_at: number | null;
  reason: string | null;
  attempts: number;
  ensured_at: number | null;
  created_at: number;
  updated_at: number;
}

/** A copy with what repair needs to know about the node holding it. */
export interface CopyWithNode extends CopyRow {
  node_state: NodeState;
  region: string | null;
}

/** The public shape in `GET /api/v1/images/{uuid}` and webhooks. */
export interface CopyView {
  node_id: string;
  pool_id: string;
  state: CopyState;
  last_scrub_at: string | null;
}

export function copyView(c: CopyRow): CopyView {
  return {
    node_id: c.node_id,
    pool_id: c.pool_id,
    state: c.state,
    last_scrub_at: c.last_scrub_at === null ? null : new Date(c.last_scrub_at).toISOString(),
  };
}

type NewCopy = Pick<CopyRow, 'image_uuid' | 'pool_id' | 'node_id' | 'state' | 'size' | 'sha256'> & {
  attempts?: number;
  ensured_at?: number | null;
};

/**
 * The copies ledger: one row per copy of an original (the primary included). `objects.pool_id`
 * and `node_id` name the primary, the copy that /i and the image API point at; this table is
 * what replication, scrub, repair and moves reason about. The only code that writes `copies`.
 */
export interface CopiesRepo {
  get(uuid: string, poolId: string): CopyRow | undefined;
  ofImage(uuid: string): CopyWithNode[];
  insert(row: NewCopy, now: number): void;
  setState(uuid: string, poolId: string, state: CopyState, reason: string | null, now: number): void;
  remove(uuid: string, poolId: string): boolean;
  /** The image was deleted: every copy not already so becomes `deleting` (its delete job follows). */
  markImageDeleting(uuid: string, now: number): void;
  /** A move copied the bytes: the source pool's row becomes a good copy in `toPool`; false when there was none. */
  moveToPool(uuid: string, fromPool: string, toPool: string, toNode: string, now: number): boolean;
  countOfImage(uuid: string): number;
  /** After a job was ensured; `added` counts an attempt only when a job was actually (re)added. */
  ensured(uuid: string, poolId: string, now: number, added: boolean): void;
  /**
   * Points the object at another good copy when its primary is unusable; returns the new primary
   * or undefined when it is healthy or nothing better exists. `preferLive` picks among 'up' copies.
   */
  failover(uuid: string, preferLive?: (nodeId: string) => boolean): { pool_id: string; node_id: string } | undefined;
  primaryAtRisk(limit: number): string[];
  countOnNode(nodeId: string): number;
  /** Copies (any state) in a pool and their bytes: what a move of the pool carries. */
  poolTotals(poolId: string): { objects: number; bytes: number };
  unrepairableCount(): number;
  underReplicated(after: string, limit: number): UnderReplicated[];
  underReplicatedCount(): number;
  surplus(limit: number): { image_uuid: string; rf: number }[];
  /** Copies in `state` whose job was not ensured since `before`, oldest first. */
  due(state: CopyState, before: number, limit: number): CopyRow[];
  pendingBytes(): Map<string, number>;
  countByState(): { state: CopyState; n: number }[];
  /**
   * `copy.stored`: the node holds a verified original. Inserting an unknown copy is allowed
   * only for the node's own pool and the object's exact bytes; anything else is refused for
   * good (409/422), which the node's outbox records as dead.
   */
  stored(r: CopyStored, now: number): { state: CopyState; created: boolean };
  /** `copy.corrupt`: never deletes anything; repair rewrites the file from a good copy. */
  corrupt(r: CopyCorrupt, now: number): { known: boolean };
  /**
   * `copy.deleted`: whatever the row said, the file is gone from disk, so the row goes too; if
   * it was the primary another good copy takes over, and repair sees the object short of copies.
   */
  deleted(r: CopyDeleted): { removed: CopyRow | undefined };
  scrubbed(r: CopiesScrubbed, at: number): number;
  /** A lost node's copies leave the index; returns the objects they belonged to. */
  removeOfNode(nodeId: string): string[];
}

/** An object short of copies, with its home pool's tier and factor. */
export interface UnderReplicated {
  image_uuid: string;
  pool_id: string;
  size: number;
  sha256: string;
  tier: string;
  rf: number;
}

export function copiesRepo(db: Database, objects: ObjectsRepo): CopiesRepo {
  const s = {
    get: db.prepare('SELECT * FROM copies WHERE image_uuid = ? AND pool_id = ?'),
    ofImage: db.prepare(
      `SELECT c.*, n.state AS node_state, n.region FROM copies c JOIN nodes n ON n.node_id = c.node_id
       WHERE c.image_uuid = ? ORDER BY c.created_at, c.pool_id`,
    ),
    object: db.prepare('SELECT image_uuid, pool_id, node_id, size, sha256 FROM objects WHERE image_uuid = ?'),
    poolNode: db.prepare('SELECT node_id FROM pools WHERE pool_id = ?').pluck(),
    nodeState: db.prepare('SELECT state FROM nodes WHERE node_id = ?').pluck(),
    insert: db.prepare(
      `INSERT INTO copies (image_uuid, pool_id, node_id, state, size, sha256, attempts, ensured_at, created_at, updated_at)
       VALUES (@image_uuid, @pool_id, @node_id, @state, @size, @sha256, @attempts, @ensured_at, @now, @now)`,
    ),
    setState: db.prepare(
      'UPDATE copies SET state = @state, reason = @reason, attempts = 0, ensured_at = NULL, updated_at = @now WHERE image_uuid = @uuid AND pool_id = @pool',
    ),
    remove: db.prepare('DELETE FROM copies WHERE image_uuid = ? AND pool_id = ?'),
    imageDeleting: db.prepare(
      `UPDATE copies SET state = 'deleting', reason = 'image deleted', attempts = 0, ensured_at = NULL, updated_at = ?
       WHERE image_uuid = ? AND state <> 'deleting'`,
    ),
    countOfImage: db.prepare('SELECT count(*) FROM copies WHERE image_uuid = ?').pluck(),
    moveToPool: db.prepare(
      `UPDATE copies SET pool_id = @target, node_id = @node, state = 'ok', reason = NULL, attempts = 0, ensured_at = NULL,
         updated_at = @now WHERE image_uuid = @uuid AND pool_id = @source`,
    ),
    removeOfNode: db.prepare('DELETE FROM copies WHERE node_id = ? RETURNING image_uuid'),
    scrubbed: db.prepare('UPDATE copies SET last_scrub_at = ? WHERE image_uuid = ? AND pool_id = ? AND node_id = ?'),
    ensured: db.prepare('UPDATE copies SET ensured_at = ?, attempts = attempts + ? WHERE image_uuid = ? AND pool_id = ?'),
    primaryHealthy: db
      .prepare(
        `SELECT 1 FROM objects o JOIN copies c ON c.image_uuid = o.image_uuid AND c.pool_id = o.pool_id
         JOIN nodes n ON n.node_id = o.node_id
         WHERE o.image_uuid = ? AND c.state = 'ok' AND n.state IN ${HOLDING}`,
      )
      .pluck(),
    // Objects whose primary is on a node written off or unseen, or whose primary copy is bad, and
    // that have a good copy on a node in service to switch to (the others would only be re-read).
    primaryAtRisk: db
      .prepare(
        `SELECT image_uuid FROM (
           SELECT o.image_uuid FROM objects o JOIN nodes n ON n.node_id = o.node_id WHERE n.state IN ('down', 'lost')
           UNION
           SELECT o.image_uuid FROM copies p JOIN objects o ON o.image_uuid = p.image_uuid AND o.pool_id = p.pool_id
           WHERE p.state = 'corrupt'
         ) r WHERE EXISTS (SELECT 1 FROM copies c JOIN nodes cn ON cn.node_id = c.node_id
                           WHERE c.image_uuid = r.image_uuid AND c.state = 'ok' AND cn.state = 'up')
         LIMIT ?`,
      )
      .pluck(),
    countOnNode: db.prepare('SELECT count(*) FROM copies WHERE node_id = ?').pluck(),
    poolTotals: db.prepare('SELECT count(*) AS objects, coalesce(sum(size), 0) AS bytes FROM copies WHERE pool_id = ?'),
    // Corrupt copies with no good copy on a node in service: nothing to repair them from.
    unrepairable: db
      .prepare(
        `SELECT count(*) FROM copies b WHERE b.state = 'corrupt' AND NOT EXISTS (
           SELECT 1 FROM copies c JOIN nodes n ON n.node_id = c.node_id
           WHERE c.image_uuid = b.image_uuid AND ${LIVE_OK})`,
      )
      .pluck(),
    // The factor and tier are the home pool's (objects.home_pool_id), not the current primary's.
    // The factor counts nodes, not rows: two copies in two pools of one node are one failure
    // from gone (a tier or pool move can land a copy beside a replica). Live copies = ok or
    // pending on a node still holding; pools with factor 1 cannot be repaired
    // from anywhere when their only copy is gone, so only replicated pools are scanned.
    underReplicated: db.prepare(
      `SELECT o.image_uuid, o.pool_id, o.size, o.sha256, p.tier, p.replication_factor AS rf FROM objects o
       JOIN pools p ON p.pool_id = o.home_pool_id
       WHERE p.replication_factor > 1 AND o.image_uuid > ?
         AND (SELECT count(DISTINCT c.node_id) FROM copies c JOIN nodes n ON n.node_id = c.node_id
              WHERE c.image_uuid = o.image_uuid AND ${COUNTED}) < p.replication_factor
       ORDER BY o.image_uuid LIMIT ?`,
    ),
    underReplicatedCount: db
      .prepare(
        `SELECT count(*) FROM objects o JOIN pools p ON p.pool_id = o.home_pool_id
         WHERE (SELECT count(DISTINCT c.node_id) FROM copies c JOIN nodes n ON n.node_id = c.node_id
                WHERE c.image_uuid = o.image_uuid AND ${COUNTED}) < p.replication_factor`,
      )
      .pluck(),
    // More good copies on nodes in service than configured, with nothing in flight for the object.
    surplus: db.prepare(
      `SELECT c.image_uuid, p.replication_factor AS rf FROM copies c
       JOIN nodes n ON n.node_id = c.node_id
       JOIN objects o ON o.image_uuid = c.image_uuid JOIN pools p ON p.pool_id = o.home_pool_id
       WHERE c.state = 'ok' AND n.state = 'up'
         AND NOT EXISTS (SELECT 1 FROM copies x WHERE x.image_uuid = c.image_uuid AND x.state IN ('pending', 'deleting'))
         AND NOT EXISTS (SELECT 1 FROM move_items m WHERE m.image_uuid = c.image_uuid AND m.state = 'queued')
       GROUP BY c.image_uuid HAVING count(*) > p.replication_factor LIMIT ?`,
    ),
    due: db.prepare('SELECT * FROM copies WHERE state = ? AND (ensured_at IS NULL OR ensured_at < ?) ORDER BY ensured_at LIMIT ?'),
    pendingBytes: db.prepare("SELECT pool_id, sum(size) AS bytes FROM copies WHERE state = 'pending' GROUP BY pool_id"),
    countByState: db.prepare('SELECT state, count(*) AS n FROM copies GROUP BY state'),
  };

  const deletedImage = deletedImageLookup(db);
  const requireObject = (uuid: string) => {
    const o = s.object.get(uuid) as { image_uuid: string; pool_id: string; node_id: string; size: number; sha256: string } | undefined;
    if (!o) throw errors.notFound('unknown_object', `no image ${uuid}`);
    return o;
  };

  const failover = (uuid: string, preferLive?: (nodeId: string) => boolean) => {
    if (s.primaryHealthy.get(uuid)) return undefined;
    const candidates = (s.ofImage.all(uuid) as CopyWithNode[]).filter((c) => c.state === 'ok' && c.node_state === 'up');
    const next = candidates.find((c) => preferLive?.(c.node_id) ?? true) ?? candidates[0];
    if (!next) return undefined;
    objects.setPrimary(uuid, next.pool_id, next.node_id);
    return { pool_id: next.pool_id, node_id: next.node_id };
  };

  const repo: CopiesRepo = {
    get: (uuid: string, poolId: string) => s.get.get(uuid, poolId) as CopyRow | undefined,
    ofImage: (uuid: string) => s.ofImage.all(uuid) as CopyWithNode[],
    insert(row: NewCopy, now: number): void {
      s.insert.run({ attempts: 0, ensured_at: null, ...row, now });
    },
    setState(uuid: string, poolId: string, state: CopyState, reason: string | null, now: number): void {
      s.setState.run({ uuid, pool: poolId, state, reason, now });
    },
    remove(uuid: string, poolId: string): boolean {
      return s.remove.run(uuid, poolId).changes === 1;
    },
    markImageDeleting: (uuid, now) => void s.imageDeleting.run(now, uuid),
    moveToPool: (uuid, fromPool, toPool, toNode, now) =>
      s.moveToPool.run({ target: toPool, node: toNode, now, uuid, source: fromPool }).changes === 1,
    countOfImage: (uuid) => s.countOfImage.get(uuid) as number,
    ensured(uuid: string, poolId: string, now: number, added: boolean): void {
      s.ensured.run(now, added ? 1 : 0, uuid, poolId);
    },
    failover: db.transaction(failover),
    primaryAtRisk: (limit: number) => s.primaryAtRisk.all(limit) as string[],
    countOnNode: (nodeId: string) => s.countOnNode.get(nodeId) as number,
    poolTotals: (poolId: string) => s.poolTotals.get(poolId) as { objects: number; bytes: number },
    unrepairableCount: () => s.unrepairable.get() as number,
    underReplicated: (after: string, limit: number) => s.underReplicated.all(after, limit) as UnderReplicated[],
    underReplicatedCount: () => s.underReplicatedCount.get() as number,
    surplus: (limit: number) => s.surplus.all(limit) as { image_uuid: string; rf: number }[],
    due: (state: CopyState, before: number, limit: number) => s.due.all(state, before, limit) as CopyRow[],
    pendingBytes(): Map<string, number> {
      return new Map((s.pendingBytes.all() as { pool_id: string; bytes: number }[]).map((r) => [r.pool_id, r.bytes]));
    },
    countByState: () => s.countByState.all() as { state: CopyState; n: number }[],

    stored: db.transaction((r: CopyStored, now: number): { state: CopyState; created: boolean } => {
      // A copy that landed after its image was deleted (a replica or move in flight) is recorded
      // to be deleted: its row makes the durability loop send the delete job.
      const gone = deletedImage(r.image_uuid);
      const o = gone ?? requireObject(r.image_uuid);
      if (s.poolNode.get(r.pool_id) !== r.node_id)
        throw errors.conflict('pool_mismatch', `pool ${r.pool_id} is not a pool of node ${r.node_id}`);
      if (s.nodeState.get(r.node_id) === 'lost')
        throw errors.conflict('node_lost', `node ${r.node_id} was declared lost; its copies are not counted`);
      if (o.size !== r.size || o.sha256 !== r.sha256)
        throw new AppError({ code: 'checksum_mismatch', status: 422, message: `copy of ${r.image_uuid} has other bytes than the object` });
      const existing = s.get.get(r.image_uuid, r.pool_id) as CopyRow | undefined;
      if (gone) {
        if (!existing)
          repo.insert(
            { image_uuid: r.image_uuid, pool_id: r.pool_id, node_id: r.node_id, state: 'deleting', size: r.size, sha256: r.sha256 },
            now,
          );
        else if (existing.state !== 'deleting') repo.setState(r.image_uuid, r.pool_id, 'deleting', 'image deleted', now);
        return { state: 'deleting', created: !existing };
      }
      if (!existing) {
        repo.insert({ image_uuid: r.image_uuid, pool_id: r.pool_id, node_id: r.node_id, state: 'ok', size: r.size, sha256: r.sha256 }, now);
        return { state: 'ok', created: true };
      }
      // A copy marked for deletion stays so: its delete job is already on its way.
      if (existing.state === 'deleting' || existing.state === 'ok') return { state: existing.state, created: false };
      repo.setState(r.image_uuid, r.pool_id, 'ok', null, now);
      return { state: 'ok', created: false };
    }),

    corrupt: db.transaction((r: CopyCorrupt, now: number): { known: boolean } => {
      requireObject(r.image_uuid);
      const existing = s.get.get(r.image_uuid, r.pool_id) as CopyRow | undefined;
      if (!existing || existing.node_id !== r.node_id) return { known: false };
      if (existing.state === 'ok' || existing.state === 'pending') repo.setState(r.image_uuid, r.pool_id, 'corrupt', r.reason, now);
      failover(r.image_uuid);
      return { known: true };
    }),

    deleted: db.transaction((r: CopyDeleted): { removed: CopyRow | undefined } => {
      const existing = s.get.get(r.image_uuid, r.pool_id) as CopyRow | undefined;
      if (!existing || existing.node_id !== r.node_id) return { removed: undefined };
      s.remove.run(r.image_uuid, r.pool_id);
      failover(r.image_uuid);
      return { removed: existing };
    }),

    scrubbed: db.transaction((r: CopiesScrubbed, at: number): number => {
      let n = 0;
      for (const uuid of r.image_uuids) n += s.scrubbed.run(at, uuid, r.pool_id, r.node_id).changes;
      return n;
    }),

    removeOfNode: (nodeId: string) => [...new Set((s.removeOfNode.all(nodeId) as { image_uuid: string }[]).map((r) => r.image_uuid))],
  };
  return repo;
}
