import { randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { errors } from '../../shared/errors.js';
import type { MoveItemReport } from '../../shared/replication.js';
import type { CopiesRepo } from './copies.js';
import type { ObjectsRepo } from './objects.js';
import type { PoolsRepo } from './pools.js';

export type MoveState = 'running' | 'paused' | 'cancelled' | 'done' | 'failed';
/** 'tier': single objects a pool's tiering policy sends on; the source stays in placement. */
export type MoveKind = 'move' | 'drain' | 'tier';
export type MoveItemState = 'planned' | 'queued' | 'done' | 'failed' | 'missing';
export const MOVE_ITEM_STATES: readonly MoveItemState[] = ['planned', 'queued', 'done', 'failed', 'missing'];

export interface MoveRow {
  move_id: string;
  source_pool_id: string;
  target_pool_id: string;
  state: MoveState;
  kind: MoveKind;
  restore_accepting: number;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

export interface MoveItemRow {
  move_id: string;
  image_uuid: string;
  state: MoveItemState;
  bytes: number;
  error: string | null;
  ensured_at: number | null;
  updated_at: number;
}

/** A queued item with what its job needs (source pool's node, target pool and node). */
export interface DueItem extends MoveItemRow {
  source_pool_id: string;
  target_pool_id: string;
  source_node_id: string;
  target_node_id: string;
}

type MoveItemExtra = { bytes?: number; error?: string | null; ensured?: number | null };

/**
 * Pool moves (and drains, which are moves of every pool of a node) and their per-copy items:
 * the only code that writes `moves` and `move_items`. A finished item switches the copy, the
 * primary and the pool's accepting through their owners, inside the move's transaction.
 */
export interface MovesRepo {
  get(moveId: string): MoveRow | undefined;
  list(limit?: number): MoveRow[];
  /** Running and paused moves: their source pools are being emptied and are never copy targets. */
  active(): MoveRow[];
  /** Creates the move with one planned item per copy in the source pool, and takes the pool out of placement. */
  create(opts: { source: string; target: string; kind: MoveKind; now: number }): MoveRow;
  /**
   * A tier move: planned items for just these objects' copies in the source pool. The pool keeps
   * taking uploads (accepting untouched, nothing to restore).
   */
  createTier(opts: { source: string; target: string; uuids: readonly string[]; now: number }): MoveRow;
  /** Compare-and-set; `finished` moves get finished_at and (plain moves) their pool's accepting back. */
  transition(moveId: string, from: MoveState[], to: MoveState, now: number): MoveRow;
  counts(moveId: string): { counts: Record<MoveItemState, number>; bytes: { planned: number; done: number } };
  failures(moveId: string): { image_uuid: string; state: MoveItemState; error: string | null }[];
  item(moveId: string, uuid: string): MoveItemRow | undefined;
  planned(moveId: string, limit: number): MoveItemRow[];
  setItem(moveId: string, uuid: string, state: MoveItemState, now: number, extra?: MoveItemExtra): void;
  /** Objects of `poolId` created before `before` that a tier move may take (oldest first). */
  tierCandidates(poolId: string, before: number, limit: number): { image_uuid: string; size: number }[];
  itemEnsured(moveId: string, uuid: string, now: number): void;
  due(before: number, limit: number): DueItem[];
  activeItemCounts(): { state: MoveItemState; n: number }[];
  /** The image was deleted: its items still to copy are done (a queued job finding it so deletes its source copy). */
  settleDeletedImage(uuid: string, now: number): void;
  /**
   * The target pool already holds a good copy (a replica lived there): nothing to copy. The
   * index switches as for a copied item and the source copy becomes surplus to delete.
   */
  settleAtTarget(m: MoveRow, uuid: string, now: number): void;
  /**
   * `POST /api/internal/moves/item`. `copied` switches the index in one transaction, even for
   * a paused or cancelled move: the bytes are verified at the target, and finishing that one
   * item is safer than leaving two copies where the index knows one. Idempotent: a done item
   * answers delete_source again.
   */
  report(r: MoveItemReport, issuer: string, now: number): { delete_source: boolean };
  /** A lost node ends every move from or to its pools; their open items fail. */
  failForNode(nodeId: string, now: number): string[];
}

export function movesRepo(db: Database, w: { copies: CopiesRepo; objects: ObjectsRepo; pools: PoolsRepo }): MovesRepo {
  const { copies, objects, pools } = w;
  const s = {
    get: db.prepare('SELECT * FROM moves WHERE move_id = ?'),
    list: db.prepare('SELECT * FROM moves ORDER BY created_at DESC, move_id LIMIT ?'),
    active: db.prepare("SELECT * FROM moves WHERE state IN ('running', 'paused') ORDER BY created_at"),
    insert: db.prepare(
      `INSERT INTO moves (move_id, source_pool_id, target_pool_id, state, kind, restore_accepting, created_at, updated_at)
       VALUES (@move_id, @source, @target, 'running', @kind, @restore, @now, @now)`,
    ),
    insertItems: db.prepare(
      `INSERT INTO move_items (move_id, image_uuid, state, bytes, updated_at)
       SELECT ?, image_uuid, 'planned', size, ? FROM copies WHERE pool_id = ?`,
    ),
    insertItem: db.prepare(
      `INSERT OR IGNORE INTO move_items (move_id, image_uuid, state, bytes, updated_at)
       SELECT ?, image_uuid, 'planned', size, ? FROM copies WHERE pool_id = ? AND image_uuid = ?`,
    ),
    // Objects a tiering policy sends on: primary in the pool, old enough, ready, a good copy
    // there, and in no open item of a running or paused move.
    tierCandidates: db.prepare(
      `SELECT o.image_uuid, o.size FROM objects o
       JOIN copies c ON c.image_uuid = o.image_uuid AND c.pool_id = o.pool_id AND c.state = 'ok'
       WHERE o.pool_id = ? AND o.created_at < ? AND o.state = 'stored' AND o.status = 'ready'
         AND NOT EXISTS (SELECT 1 FROM move_items i JOIN moves m ON m.move_id = i.move_id
           WHERE i.image_uuid = o.image_uuid AND i.state IN ('planned', 'queued') AND m.state IN ('running', 'paused'))
       ORDER BY o.created_at, o.image_uuid LIMIT ?`,
    ),
    setState: db.prepare('UPDATE moves SET state = ?, updated_at = ?, finished_at = ? WHERE move_id = ? AND state = ?'),
    counts: db.prepare('SELECT state, count(*) AS n, coalesce(sum(bytes), 0) AS bytes FROM move_items WHERE move_id = ? GROUP BY state'),
    failures: db.prepare(
      "SELECT image_uuid, state, error FROM move_items WHERE move_id = ? AND state IN ('failed', 'missing') ORDER BY updated_at LIMIT 50",
    ),
    item: db.prepare('SELECT * FROM move_items WHERE move_id = ? AND image_uuid = ?'),
    planned: db.prepare("SELECT * FROM move_items WHERE move_id = ? AND state = 'planned' ORDER BY image_uuid LIMIT ?"),
    setItem: db.prepare(
      'UPDATE move_items SET state = @state, bytes = coalesce(@bytes, bytes), error = @error, ensured_at = @ensured, updated_at = @now WHERE move_id = @move AND image_uuid = @uuid',
    ),
    itemEnsured: db.prepare('UPDATE move_items SET ensured_at = ? WHERE move_id = ? AND image_uuid = ?'),
    due: db.prepare(
      `SELECT i.*, m.source_pool_id, m.target_pool_id, sp.node_id AS source_node_id, tp.node_id AS target_node_id
       FROM move_items i JOIN moves m ON m.move_id = i.move_id
       JOIN pools sp ON sp.pool_id = m.source_pool_id JOIN pools tp ON tp.pool_id = m.target_pool_id
       WHERE i.state = 'queued' AND (i.ensured_at IS NULL OR i.ensured_at < ?) ORDER BY i.ensured_at LIMIT ?`,
    ),
    object: db.prepare('SELECT size, sha256 FROM objects WHERE image_uuid = ?'),
    deletedImageItems: db.prepare(
      `UPDATE move_items SET state = 'done', bytes = 0, error = 'image deleted', updated_at = ?
       WHERE image_uuid = ? AND state IN ('planned', 'queued')`,
    ),
    itemCountsAll: db.prepare(
      "SELECT i.state, count(*) AS n FROM move_items i JOIN moves m ON m.move_id = i.move_id WHERE m.state IN ('running', 'paused') GROUP BY i.state",
    ),
    failActiveOfPools: db
      .prepare(
        "SELECT move_id FROM moves WHERE state IN ('running', 'paused') AND (source_pool_id IN (SELECT pool_id FROM pools WHERE node_id = ?) OR target_pool_id IN (SELECT pool_id FROM pools WHERE node_id = ?))",
      )
      .pluck(),
    failOpenItems: db.prepare(
      "UPDATE move_items SET state = 'failed', error = ?, updated_at = ? WHERE move_id = ? AND state IN ('planned', 'queued')",
    ),
  };

  const setItem = (moveId: string, uuid: string, state: MoveItemState, now: number, extra: MoveItemExtra = {}) =>
    void s.setItem.run({
      move: moveId,
      uuid,
      state,
      now,
      bytes: extra.bytes ?? null,
      error: extra.error ?? null,
      ensured: extra.ensured ?? null,
    });

  const restoreAccepting = (m: MoveRow, now: number) => {
    if (m.kind !== 'move') return;
    pools.setAccepting(m.source_pool_id, m.restore_accepting, now);
  };
  const poolNode = (poolId: string) => pools.nodeOf(poolId) as string;
  // The primary and (a moved object takes the target's factor and tier) the home follow.
  const switchObject = (m: MoveRow, uuid: string) => objects.moveTo(uuid, m.source_pool_id, m.target_pool_id, poolNode(m.target_pool_id));

  /** The copy row and (when it was there) the primary follow the bytes to the target pool. */
  const switchToTarget = (m: MoveRow, uuid: string, now: number) => {
    const targetNode = poolNode(m.target_pool_id);
    const atTarget = copies.get(uuid, m.target_pool_id);
    if (atTarget) {
      if (atTarget.state !== 'ok') copies.setState(uuid, m.target_pool_id, 'ok', null, now);
      copies.remove(uuid, m.source_pool_id);
    } else if (!copies.moveToPool(uuid, m.source_pool_id, m.target_pool_id, targetNode, now)) {
      const o = s.object.get(uuid) as { size: number; sha256: string } | undefined;
      if (o)
        copies.insert(
          { image_uuid: uuid, pool_id: m.target_pool_id, node_id: targetNode, state: 'ok', size: o.size, sha256: o.sha256 },
          now,
        );
    }
    switchObject(m, uuid);
  };

  const repo: MovesRepo = {
    get: (moveId: string) => s.get.get(moveId) as MoveRow | undefined,
    list: (limit = 100) => s.list.all(limit) as MoveRow[],
    /** Running and paused moves: their source pools are being emptied and are never copy targets. */
    active: () => s.active.all() as MoveRow[],

    /** Creates the move with one planned item per copy in the source pool, and takes the pool out of placement. */
    create: db.transaction((opts: { source: string; target: string; kind: MoveKind; now: number }): MoveRow => {
      const move_id = randomUUID();
      const restore = pools.get(opts.source)?.accepting ?? 1;
      s.insert.run({ move_id, source: opts.source, target: opts.target, kind: opts.kind, restore, now: opts.now });
      s.insertItems.run(move_id, opts.now, opts.source);
      pools.setAccepting(opts.source, 0, opts.now);
      return repo.get(move_id)!;
    }),

    /**
     * A tier move: planned items for just these objects' copies in the source pool. The pool keeps
     * taking uploads (accepting untouched, nothing to restore).
     */
    createTier: db.transaction((opts: { source: string; target: string; uuids: readonly string[]; now: number }): MoveRow => {
      const move_id = randomUUID();
      const restore = pools.get(opts.source)?.accepting ?? 1;
      s.insert.run({ move_id, source: opts.source, target: opts.target, kind: 'tier', restore, now: opts.now });
      for (const uuid of opts.uuids) s.insertItem.run(move_id, opts.now, opts.source, uuid);
      return repo.get(move_id)!;
    }),

    /** Compare-and-set; `finished` moves get finished_at and (plain moves) their pool's accepting back. */
    transition: db.transaction((moveId: string, from: MoveState[], to: MoveState, now: number): MoveRow => {
      const m = repo.get(moveId);
      if (!m) throw errors.notFound('not_found', `no move ${moveId}`);
      if (!from.includes(m.state)) throw errors.conflict('move_state', `move ${moveId} is ${m.state}`);
      const finished = to === 'done' || to === 'failed' || to === 'cancelled';
      s.setState.run(to, now, finished ? now : null, moveId, m.state);
      if (finished) restoreAccepting(m, now);
      return repo.get(moveId)!;
    }),

    counts(moveId: string): { counts: Record<MoveItemState, number>; bytes: { planned: number; done: number } } {
      const counts = Object.fromEntries(MOVE_ITEM_STATES.map((st) => [st, 0])) as Record<MoveItemState, number>;
      let planned = 0;
      let done = 0;
      for (const r of s.counts.all(moveId) as { state: MoveItemState; n: number; bytes: number }[]) {
        counts[r.state] = r.n;
        planned += r.bytes;
        if (r.state === 'done') done = r.bytes;
      }
      return { counts, bytes: { planned, done } };
    },
    failures: (moveId: string) => s.failures.all(moveId) as { image_uuid: string; state: MoveItemState; error: string | null }[],
    item: (moveId: string, uuid: string) => s.item.get(moveId, uuid) as MoveItemRow | undefined,
    planned: (moveId: string, limit: number) => s.planned.all(moveId, limit) as MoveItemRow[],
    setItem,
    /** Objects of `poolId` created before `before` that a tier move may take (oldest first). */
    tierCandidates: (poolId: string, before: number, limit: number) =>
      s.tierCandidates.all(poolId, before, limit) as { image_uuid: string; size: number }[],
    itemEnsured: (moveId: string, uuid: string, now: number) => void s.itemEnsured.run(now, moveId, uuid),
    due: (before: number, limit: number) => s.due.all(before, limit) as DueItem[],
    activeItemCounts: () => s.itemCountsAll.all() as { state: MoveItemState; n: number }[],
    settleDeletedImage: (uuid, now) => void s.deletedImageItems.run(now, uuid),

    /**
     * The target pool already holds a good copy (a replica lived there): nothing to copy. The
     * index switches as for a copied item and the source copy becomes surplus to delete.
     */
    settleAtTarget: db.transaction((m: MoveRow, uuid: string, now: number): void => {
      switchObject(m, uuid);
      copies.setState(uuid, m.source_pool_id, 'deleting', `moved to ${m.target_pool_id}`, now);
      setItem(m.move_id, uuid, 'done', now, { bytes: 0 });
    }),

    /**
     * `POST /api/internal/moves/item`. `copied` switches the index in one transaction, even for
     * a paused or cancelled move: the bytes are verified at the target, and finishing that one
     * item is safer than leaving two copies where the index knows one. Idempotent: a done item
     * answers delete_source again.
     */
    report: db.transaction((r: MoveItemReport, issuer: string, now: number): { delete_source: boolean } => {
      const m = repo.get(r.move_id);
      const item = m && repo.item(r.move_id, r.image_uuid);
      if (!m || !item) throw errors.notFound('not_found', `no item ${r.image_uuid} in move ${r.move_id}`);
      if (r.node_id !== issuer || pools.nodeOf(m.source_pool_id) !== issuer)
        throw errors.forbidden('wrong_node', `move ${r.move_id} copies from another node than ${issuer}`);
      if (r.target_pool_id !== m.target_pool_id)
        throw errors.conflict('target_mismatch', `move ${r.move_id} goes to ${m.target_pool_id}, not ${r.target_pool_id}`);
      if (item.state === 'done') return { delete_source: true };
      if (r.outcome === 'copied') {
        switchToTarget(m, r.image_uuid, now);
        setItem(m.move_id, r.image_uuid, 'done', now, { bytes: r.bytes });
        return { delete_source: true };
      }
      if (r.outcome === 'missing') {
        // The node has no such file: the index must stop counting it (repair re-creates the copy).
        copies.remove(r.image_uuid, m.source_pool_id);
        copies.failover(r.image_uuid);
        setItem(m.move_id, r.image_uuid, 'missing', now, { error: r.error ?? 'missing at the source' });
      } else setItem(m.move_id, r.image_uuid, 'failed', now, { error: r.error ?? 'failed' });
      return { delete_source: false };
    }),

    /** A lost node ends every move from or to its pools; their open items fail. */
    failForNode: db.transaction((nodeId: string, now: number): string[] => {
      const ids = s.failActiveOfPools.all(nodeId, nodeId) as string[];
      for (const id of ids) {
        s.failOpenItems.run(`node ${nodeId} lost`, now, id);
        repo.transition(id, ['running', 'paused'], 'failed', now);
      }
      return ids;
    }),
  };
  return repo;
}

/** The admin API's view of a move. */
export function moveView(m: MoveRow, moves: MovesRepo) {
  const { counts, bytes } = moves.counts(m.move_id);
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    move_id: m.move_id,
    source_pool_id: m.source_pool_id,
    target_pool_id: m.target_pool_id,
    state: m.state,
    kind: m.kind,
    counts,
    bytes,
    failures: moves.failures(m.move_id),
    created_at: iso(m.created_at),
    updated_at: iso(m.updated_at),
    finished_at: iso(m.finished_at),
  };
}
