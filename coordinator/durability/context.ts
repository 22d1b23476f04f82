import type { Logger } from 'pino';
import type { NodeHeartbeat } from '../../shared/heartbeat.js';
import type { CopiesRepo, CopyWithNode } from '../db/copies.js';
import type { DeletionsRepo } from '../db/deletions.js';
import type { MovesRepo } from '../db/moves.js';
import type { NodeRow, NodesRepo } from '../db/nodes.js';
import type { ObjectsRepo } from '../db/objects.js';
import type { PoolsRepo } from '../db/pools.js';
import type { RestorableRepo } from '../db/restorable.js';
import type { HeartbeatSnapshot } from '../heartbeats.js';
import type { NodeJobs } from '../node-jobs.js';
import { isLive } from '../placement.js';

/** Tuning of the durability loop (coordinator/config.ts has the environment names and defaults). */
export interface DurabilitySettings {
  heartbeatMaxAgeMs: number;
  /** Unseen this long → 'down' (its copies stop counting and repair begins). */
  nodeDownGraceMs: number;
  repairIntervalMs: number;
  /** Objects planned (and jobs re-ensured) per step per tick. */
  repairBatch: number;
  /** Items of one move in the node's queue at once. */
  moveBatch: number;
  /** A pending/deleting copy or queued item whose job was ensured longer ago is ensured again. */
  jobRetryMs: number;
  /** Tiering policies are applied at most this often (default 3600000). */
  tieringIntervalMs?: number;
  /** node-cron expression: when set, tiering runs when it fires instead of every tieringIntervalMs. */
  tieringCron?: string;
  /** A deleted image's stored backup is deleted this long after the image (default 7 days). */
  backupDeleteGraceMs?: number;
}

export interface DurabilityDeps {
  repos: {
    nodes: NodesRepo;
    pools: PoolsRepo;
    copies: CopiesRepo;
    moves: MovesRepo;
    objects: ObjectsRepo;
    deletions: DeletionsRepo;
    restorable: RestorableRepo;
  };
  heartbeats: HeartbeatSnapshot;
  jobs: NodeJobs;
  logger: Logger;
  settings: DurabilitySettings;
}

/** A pending copy is given up (and planned elsewhere) after this many job adds. */
export const MAX_COPY_ATTEMPTS = 5;

/** What one tick sees, read once at its start. */
export interface TickContext {
  now: number;
  nodes: Map<string, NodeRow>;
  heartbeats: ReadonlyMap<string, NodeHeartbeat>;
  /** Sources of running or paused moves (tier moves excepted: their pools stay in service). */
  drainingPools: Set<string>;
  /** Pending bytes per pool, grown as this tick plans more. */
  plannedBytes: Map<string, number>;
  /** Nodes a pending copy of the object was given up on (kept across ticks): tried last. */
  gaveUp: Map<string, Set<string>>;
}

/** A node we can read from now: fresh heartbeat and still holding its copies. */
export function readable(ctx: TickContext, settings: DurabilitySettings, nodeId: string): boolean {
  const n = ctx.nodes.get(nodeId);
  if (!n || (n.state !== 'up' && n.state !== 'draining')) return false;
  return isLive(ctx.heartbeats.get(nodeId), ctx.now, settings.heartbeatMaxAgeMs);
}

/** A good copy to copy from, other than on `notNode`. */
export function sourceCopy(
  ctx: TickContext,
  settings: DurabilitySettings,
  copies: CopyWithNode[],
  notNode?: string,
): CopyWithNode | undefined {
  return copies.find((c) => c.state === 'ok' && c.node_id !== notNode && readable(ctx, settings, c.node_id));
}

/**
 * Pools whose node can read `bucket`: those that stored backups there (the ledger) and those
 * whose live heartbeat says they back up to it (a node added after a loss has stored nothing yet).
 */
export function bucketReaders(deps: Pick<DurabilityDeps, 'repos'>, ctx: Pick<TickContext, 'heartbeats'>, bucket: string): Set<string> {
  const readers = new Set(deps.repos.restorable.bucketReaders(bucket));
  for (const hb of ctx.heartbeats.values()) for (const p of hb.pools) if (p.backup_bucket === bucket) readers.add(p.pool_id);
  return readers;
}

/** Ensure outcomes that put a job in the queue count as an attempt. */
export const added = (o: string) => o === 'added' || o === 're-added';
