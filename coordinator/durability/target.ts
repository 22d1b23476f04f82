import type { NodeHeartbeat } from '../../shared/heartbeat.js';
import type { NodeState } from '../db/nodes.js';
import { isLive } from '../placement.js';

export interface TargetPool {
  pool_id: string;
  node_id: string;
  tier: string;
  /** Bytes promised to open upload sessions on this pool. */
  reserved_bytes: number;
  /** 'disk' (unset) or 's3' (a bucket behind its node). */
  type?: string;
}

export interface TargetNode {
  node_id: string;
  region: string | null;
  state: NodeState;
}

export interface TargetInput<P extends TargetPool> {
  pools: readonly P[];
  nodes: ReadonlyMap<string, TargetNode>;
  heartbeats: ReadonlyMap<string, NodeHeartbeat>;
  now: number;
  maxAgeMs: number;
  /** Bytes the copy needs. */
  size: number;
  /** The tier of the object's pool: preferred, not required. */
  tier: string;
  /** Nodes that already hold a copy in any state: a second copy on the same node is no copy. */
  excludeNodes: ReadonlySet<string>;
  /** Regions of the existing copies: a pool elsewhere is preferred. */
  avoidRegions: ReadonlySet<string>;
  /** Sources of running or paused moves: being emptied, so never filled. */
  drainingPools: ReadonlySet<string>;
  /** Bytes already planned onto a pool that its heartbeat does not show yet (pending copies). */
  plannedBytes?: (poolId: string) => number;
  /**
   * s3 pools on this node may be chosen (a tier move from one of its disk pools: only the
   * bucket's gateway node has the credentials and the bytes). Unset = never an s3 pool: a
   * replica, repair or restore target is a directory a peer can PUT to.
   */
  s3OnNode?: string;
}

export interface TargetChoice<P extends TargetPool> {
  pool: P;
  node: TargetNode;
  usable: number;
}

/**
 * Where a new copy goes: a pool with a live heartbeat that reports it writable, on a node in
 * service ('up') holding no copy of the object, with usable bytes (free − reserved − planned)
 * ≥ size. Preference: another region than every existing copy, then the object's tier, then most
 * usable bytes, then pool id. The pool's `accepting` flag is ignored: it governs new uploads.
 * s3 pools only with `s3OnNode`, and only that node's (by registration or heartbeat type).
 * Pure: all state comes in through `input`.
 */
export function chooseCopyTarget<P extends TargetPool>(input: TargetInput<P>): TargetChoice<P> | undefined {
  let best: (TargetChoice<P> & { rank: [number, number] }) | undefined;
  for (const pool of input.pools) {
    if (input.excludeNodes.has(pool.node_id) || input.drainingPools.has(pool.pool_id)) continue;
    const node = input.nodes.get(pool.node_id);
    if (!node || node.state !== 'up') continue;
    const hb = input.heartbeats.get(pool.node_id);
    if (!isLive(hb, input.now, input.maxAgeMs)) continue;
    const hp = hb.pools.find((p) => p.pool_id === pool.pool_id);
    if (!hp || !hp.writable) continue;
    if ((pool.type === 's3' || hp.type === 's3') && pool.node_id !== input.s3OnNode) continue;
    const usable = hp.free_bytes - pool.reserved_bytes - (input.plannedBytes?.(pool.pool_id) ?? 0);
    if (usable < input.size) continue;
    const otherRegion = node.region !== null && !input.avoidRegions.has(node.region) ? 1 : 0;
    const sameTier = pool.tier === input.tier ? 1 : 0;
    const rank: [number, number] = [otherRegion, sameTier];
    if (!best || better(rank, usable, pool.pool_id, best)) best = { pool, node, usable, rank };
  }
  if (!best) return undefined;
  return { pool: best.pool, node: best.node, usable: best.usable };
}

function better(
  rank: [number, number],
  usable: number,
  poolId: string,
  best: { rank: [number, number]; usable: number; pool: TargetPool },
): boolean {
  if (rank[0] !== best.rank[0]) return rank[0] > best.rank[0];
  if (rank[1] !== best.rank[1]) return rank[1] > best.rank[1];
  if (usable !== best.usable) return usable > best.usable;
  return poolId < best.pool.pool_id;
}
