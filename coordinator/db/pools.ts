import type { Database } from 'better-sqlite3';
import { errors } from '../../shared/errors.js';
import { poolsChanged } from './pool-candidates.js';

/**
 * `disk`: a directory on its node. `s3`: a bucket behind its node (the S3 cold tier): never
 * chosen for uploads or replicas, only as the target of a tier move from a pool of the same node.
 */
export type PoolType = 'disk' | 's3';

export interface PoolRow {
  pool_id: string;
  node_id: string;
  tier: string;
  type: PoolType;
  public_base_url: string;
  weight: number;
  accepting: number;
  replication_factor: number;
  reserved_bytes: number;
  /** Tiering policy: objects older than this move to a pool of tiering_to_tier (both or neither). */
  tiering_after_seconds: number | null;
  tiering_to_tier: string | null;
  created_at: number;
  updated_at: number;
}

export interface PoolInput {
  pool_id: string;
  node_id: string;
  tier: string;
  public_base_url: string;
  weight: number;
  /** Unset = true for a disk pool, false for an s3 pool. */
  accepting?: boolean;
  replication_factor: number;
  /** Unset = as registered, else 'disk'; fixed once registered (a directory does not turn into a bucket). */
  type?: PoolType;
}

export interface TieringPolicy {
  after_seconds: number;
  to_tier: string;
}

export type PoolPatch = Partial<Omit<PoolInput, 'pool_id' | 'node_id' | 'type' | 'accepting'>> & {
  accepting?: boolean;
  tiering?: TieringPolicy | null;
};

/**
 * An s3 pool holds the one copy its objects keep (the bucket is the durability) and takes no
 * uploads: checked here, so every way in (POST /pools, POST /nodes, PATCH) keeps to it.
 */
function checkS3Pool(poolId: string, p: { accepting: boolean | number; replication_factor: number }): void {
  if (p.replication_factor !== 1)
    throw errors.badRequest('invalid_pool', `pool ${poolId} is an s3 pool: replication_factor must be 1 (the bucket is its durability)`);
  if (p.accepting === true || p.accepting === 1)
    throw errors.badRequest('invalid_pool', `pool ${poolId} is an s3 pool: it never accepts uploads (accepting must be false)`);
}

/**
 * Pools as the operator registered them; capacity comes from heartbeats, not from here. The only
 * code that writes `pools`; every write that changes what placement sees invalidates the
 * placement cache (pool-candidates.ts) here, so no caller has to.
 */
export interface PoolsRepo {
  get(poolId: string): PoolRow | undefined;
  list(): PoolRow[];
  ofNode(nodeId: string): PoolRow[];
  /** Idempotent; a pool id is a directory on one node, so it cannot silently change nodes. */
  upsert(input: PoolInput): { pool: PoolRow; created: boolean };
  /** Pools with a tiering policy. */
  tiered(): PoolRow[];
  patch(poolId: string, patch: PoolPatch): PoolRow;
  /** The node that owns the pool, undefined for an unknown pool. */
  nodeOf(poolId: string): string | undefined;
  /** Takes the pool in or out of placement (a move empties it, its end gives the old value back). */
  setAccepting(poolId: string, accepting: number, now: number): void;
  /** Moves the pool's reserved figure by `delta` bytes (sessions, inside their transactions). */
  reserve(poolId: string, delta: number): void;
  /** Deregisters every pool of the node. */
  removeOfNode(nodeId: string): void;
}

export function poolsRepo(db: Database): PoolsRepo {
  const get = db.prepare('SELECT * FROM pools WHERE pool_id = ?');
  const all = db.prepare('SELECT * FROM pools ORDER BY node_id, pool_id');
  const ofNode = db.prepare('SELECT * FROM pools WHERE node_id = ? ORDER BY pool_id');
  const insert = db.prepare(
    `INSERT INTO pools (pool_id, node_id, tier, type, public_base_url, weight, accepting, replication_factor, created_at, updated_at)
     VALUES (@pool_id, @node_id, @tier, @type, @public_base_url, @weight, @accepting, @replication_factor, @now, @now)`,
  );
  const update = db.prepare(
    `UPDATE pools SET tier = @tier, public_base_url = @public_base_url, weight = @weight,
       accepting = @accepting, replication_factor = @replication_factor, updated_at = @now
     WHERE pool_id = @pool_id`,
  );

  const setTiering = db.prepare('UPDATE pools SET tiering_after_seconds = ?, tiering_to_tier = ?, updated_at = ? WHERE pool_id = ?');
  const withTiering = db.prepare('SELECT * FROM pools WHERE tiering_after_seconds IS NOT NULL ORDER BY pool_id');
  const nodeOf = db.prepare('SELECT node_id FROM pools WHERE pool_id = ?').pluck();
  const setAccepting = db.prepare('UPDATE pools SET accepting = ?, updated_at = ? WHERE pool_id = ?');
  const reserve = db.prepare('UPDATE pools SET reserved_bytes = reserved_bytes + ? WHERE pool_id = ?');
  const removeOfNode = db.prepare('DELETE FROM pools WHERE node_id = ?');

  const repo: PoolsRepo = {
    get(poolId: string): PoolRow | undefined {
      return get.get(poolId) as PoolRow | undefined;
    },
    list(): PoolRow[] {
      return all.all() as PoolRow[];
    },
    ofNode(nodeId: string): PoolRow[] {
      return ofNode.all(nodeId) as PoolRow[];
    },
    upsert(input: PoolInput): { pool: PoolRow; created: boolean } {
      const existing = repo.get(input.pool_id);
      // Unsaid = as registered (a re-registration that predates types keeps an s3 pool s3).
      const type = input.type ?? existing?.type ?? 'disk';
      const accepting = input.accepting ?? type !== 's3';
      const params = { ...input, type, accepting: accepting ? 1 : 0, now: Date.now() };
      if (existing && existing.node_id !== input.node_id)
        throw errors.conflict('pool_node_conflict', `pool ${input.pool_id} belongs to node ${existing.node_id}`);
      if (existing && existing.type !== type)
        throw errors.conflict('pool_type_conflict', `pool ${input.pool_id} is a ${existing.type} pool; its type cannot change`);
      if (type === 's3') checkS3Pool(input.pool_id, { accepting, replication_factor: input.replication_factor });
      (existing ? update : insert).run(params);
      poolsChanged(db);
      return { pool: repo.get(input.pool_id)!, created: !existing };
    },
    tiered(): PoolRow[] {
      return withTiering.all() as PoolRow[];
    },
    patch(poolId: string, patch: PoolPatch): PoolRow {
      const existing = repo.get(poolId);
      if (!existing) throw errors.notFound('not_found', `no pool ${poolId}`);
      if (existing.type === 's3')
        checkS3Pool(poolId, {
          accepting: patch.accepting ?? false,
          replication_factor: patch.replication_factor ?? existing.replication_factor,
        });
      if (patch.tiering !== undefined)
        setTiering.run(patch.tiering?.after_seconds ?? null, patch.tiering?.to_tier ?? null, Date.now(), poolId);
      update.run({
        pool_id: poolId,
        tier: patch.tier ?? existing.tier,
        public_base_url: patch.public_base_url ?? existing.public_base_url,
        weight: patch.weight ?? existing.weight,
        accepting: patch.accepting === undefined ? existing.accepting : patch.accepting ? 1 : 0,
        replication_factor: patch.replication_factor ?? existing.replication_factor,
        now: Date.now(),
      });
      poolsChanged(db);
      return repo.get(poolId)!;
    },
    nodeOf: (poolId) => nodeOf.get(poolId) as string | undefined,
    setAccepting(poolId, accepting, now) {
      setAccepting.run(accepting, now, poolId);
      poolsChanged(db);
    },
    reserve: (poolId, delta) => void reserve.run(delta, poolId),
    removeOfNode(nodeId) {
      removeOfNode.run(nodeId);
      poolsChanged(db);
    },
  };
  return repo;
}

/** The pool as the admin API shows it. */
export function poolView(p: PoolRow) {
  return {
    pool_id: p.pool_id,
    node_id: p.node_id,
    tier: p.tier,
    type: p.type,
    public_base_url: p.public_base_url,
    weight: p.weight,
    accepting: p.accepting === 1,
    replication_factor: p.replication_factor,
    reserved_bytes: p.reserved_bytes,
    tiering:
      p.tiering_after_seconds === null || p.tiering_to_tier === null
        ? null
        : { after_seconds: p.tiering_after_seconds, to_tier: p.tiering_to_tier },
    created_at: new Date(p.created_at).toISOString(),
    updated_at: new Date(p.updated_at).toISOString(),
  };
}
