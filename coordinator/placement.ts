import type { NodeHeartbeat, PoolHeartbeat } from '../shared/heartbeat.js';

/** A registered pool as placement needs it. */
export interface PlacementPool {
  pool_id: string;
  node_id: string;
  tier: string;
  weight: number;
  /** SQLite rows carry 0/1. */
  accepting: boolean | number;
  /** 'disk' (unset) or 's3': a bucket never takes uploads. */
  type?: string;
}

export interface PlacementInput<P extends PlacementPool> {
  /** Registered pools (any tier, any state: filtering is placement's job). */
  pools: readonly P[];
  /** Latest heartbeat per node id. */
  heartbeats: ReadonlyMap<string, NodeHeartbeat>;
  tier: string;
  fileSize: number;
  now: number;
  maxAgeMs: number;
  /**
   * Bytes promised on this pool that its heartbeat's free_bytes does not yet reflect: open
   * sessions plus sessions completed after `sinceMs` (heartbeat ts − 2 s).
   */
  reservedBytes: (pool: P, sinceMs: number) => number;
}

export interface Placement<P extends PlacementPool> {
  pool: P;
  heartbeat: NodeHeartbeat;
  usable: number;
}

/** Slack for a completion the node counted just before taking its figures. */
export const COMPLETED_SLACK_MS = 2000;

/** A heartbeat that may still be trusted for new uploads. */
export function isLive(hb: NodeHeartbeat | undefined, now: number, maxAgeMs: number): hb is NodeHeartbeat {
  return hb !== undefined && now - hb.ts <= maxAgeMs;
}

function livePool(
  pool: PlacementPool,
  heartbeats: ReadonlyMap<string, NodeHeartbeat>,
  now: number,
  maxAgeMs: number,
): { hb: NodeHeartbeat; hbPool: PoolHeartbeat } | undefined {
  const hb = heartbeats.get(pool.node_id);
  if (!isLive(hb, now, maxAgeMs) || !hb.accepting) return undefined;
  const hbPool = hb.pools.find((p) => p.pool_id === pool.pool_id);
  if (!hbPool || !hbPool.writable || !hbPool.accepting || hbPool.type === 's3') return undefined;
  return { hb, hbPool };
}

/**
 * Picks the pool for an upload: a disk pool, registered, accepting, right tier, on a node with a live
 * accepting heartbeat that reports the pool writable and accepting, with usable bytes
 * (heartbeat free − reserved) ≥ fileSize. Highest weight wins, then most usable bytes, then pool
 * id (so equal pools are chosen deterministically). Pure: all state comes in through `input`.
 */
export function choosePool<P extends PlacementPool>(input: PlacementInput<P>): Placement<P> | undefined {
  let best: Placement<P> | undefined;
  for (const pool of input.pools) {
    // An s3 pool is skipped even if its row says accepting: uploads need a directory.
    if (!pool.accepting || pool.tier !== input.tier || pool.type === 's3') continue;
    const live = livePool(pool, input.heartbeats, input.now, input.maxAgeMs);
    if (!live) continue;
    const usable = live.hbPool.free_bytes - input.reservedBytes(pool, live.hb.ts - COMPLETED_SLACK_MS);
    if (usable < input.fileSize) continue;
    if (!best || better(pool, usable, best)) best = { pool, heartbeat: live.hb, usable };
  }
  return best;
}

function better(pool: PlacementPool, usable: number, best: Placement<PlacementPool>): boolean {
  if (pool.weight !== best.pool.weight) return pool.weight > best.pool.weight;
  if (usable !== best.usable) return usable > best.usable;
  return pool.pool_id < best.pool.pool_id;
}
