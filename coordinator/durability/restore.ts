import type { JobData } from '../../shared/jobs.js';
import type { RestorableRow } from '../db/restorable.js';
import { added, bucketReaders, type DurabilityDeps, type TickContext } from './context.js';
import { chooseCopyTarget, type TargetNode } from './target.js';

/** What the restore step keeps between ticks (memory aids only: forgetting them is harmless). */
export interface RestoreMemory {
  /** Scan cursor: objects that cannot be restored now do not starve the others. */
  after: string;
  /** Objects already logged as unrestorable, so a hopeless one is logged once, not every tick. */
  logged: Set<string>;
}

export function restoreMemory(): RestoreMemory {
  return { after: '', logged: new Set() };
}

/**
 * Step b′: an object with no good copy on a node in service and no copy being made, whose S3
 * backup is stored, is brought back from the bucket. The target is a pool on a live 'up' node
 * that has itself stored backups to that bucket (its node holds credentials that can read it) —
 * the object's home pool first (a disk lost and replaced), else the usual target choice among
 * those pools. A pending copy is recorded and the target node gets a `restore` job; its
 * `copy.stored` makes the copy ok, and replication tops up the factor from there. A pending
 * restore copy that keeps failing is given up by reensureCopies like any pending copy. Nothing
 * is ever marked lost here: an object no pool can read back is logged once and counted
 * (fennec_objects_unrestorable).
 */
export async function restoreFromBackups(deps: DurabilityDeps, ctx: TickContext, memory: RestoreMemory) {
  const { copies, pools, restorable } = deps.repos;
  const { settings, jobs, logger } = deps;
  const rows = restorable.restorable(memory.after, settings.repairBatch);
  memory.after = rows.length < settings.repairBatch ? '' : rows[rows.length - 1]!.image_uuid;
  const stats = { planned: 0, unrestorable: 0, noTarget: 0 };
  if (rows.length === 0) return stats;
  if (memory.logged.size > 10_000) memory.logged.clear();
  const allPools = pools.list();
  const targetNodes = new Map<string, TargetNode>([...ctx.nodes.values()].map((n) => [n.node_id, n]));
  const readersOf = new Map<string, Set<string>>();
  const readers = (bucket: string) => {
    let r = readersOf.get(bucket);
    if (!r) readersOf.set(bucket, (r = bucketReaders(deps, ctx, bucket)));
    return r;
  };
  for (const o of rows) {
    const candidates = allPools.filter((p) => readers(o.bucket).has(p.pool_id));
    if (!candidates.some((p) => ctx.nodes.get(p.node_id)?.state === 'up')) {
      stats.unrestorable++;
      if (!memory.logged.has(o.image_uuid)) {
        memory.logged.add(o.image_uuid);
        logger.error(
          { image_uuid: o.image_uuid, bucket: o.bucket },
          'only the S3 backup is left and no pool on a node in service can read its bucket',
        );
      }
      continue;
    }
    const list = copies.ofImage(o.image_uuid);
    // A pool (or node) with a row of the object in any state is not a new place for it.
    const exclude = new Set(list.map((c) => c.node_id));
    const failed = ctx.gaveUp.get(o.image_uuid);
    const choose = (pool: typeof allPools, excludeNodes: ReadonlySet<string>) =>
      chooseCopyTarget({
        pools: pool,
        nodes: targetNodes,
        heartbeats: ctx.heartbeats,
        now: ctx.now,
        maxAgeMs: settings.heartbeatMaxAgeMs,
        size: o.size,
        tier: o.tier ?? '',
        excludeNodes,
        avoidRegions: new Set(),
        drainingPools: ctx.drainingPools,
        plannedBytes: (id) => ctx.plannedBytes.get(id) ?? 0,
      });
    const home = candidates.filter((p) => p.pool_id === o.home_pool_id);
    const withFailed = failed ? new Set([...exclude, ...failed]) : exclude;
    const choice =
      (failed && choose(home, withFailed)) ||
      (failed && choose(candidates, withFailed)) ||
      choose(home, exclude) ||
      choose(candidates, exclude);
    if (!choice) {
      stats.noTarget++;
      logger.debug({ image_uuid: o.image_uuid, size: o.size, bucket: o.bucket }, 'no pool that can read the bucket has room for a restore');
      continue;
    }
    memory.logged.delete(o.image_uuid);
    const { pool, node } = choice;
    copies.insert(
      { image_uuid: o.image_uuid, pool_id: pool.pool_id, node_id: node.node_id, state: 'pending', size: o.size, sha256: o.sha256 },
      ctx.now,
    );
    ctx.plannedBytes.set(pool.pool_id, (ctx.plannedBytes.get(pool.pool_id) ?? 0) + o.size);
    const outcome = await jobs.ensure(node.node_id, restoreJob(o, pool.pool_id));
    // Redis down: the row stays pending with no ensure time, so reensureCopies adds the job.
    if (outcome !== 'error') copies.ensured(o.image_uuid, pool.pool_id, ctx.now, added(outcome));
    stats.planned++;
    logger.info({ image_uuid: o.image_uuid, to: node.node_id, pool_id: pool.pool_id, bucket: o.bucket }, 'restore from S3 planned');
  }
  return stats;
}

/** The `restore` job of an object for a pool: everything the node needs to fetch and record it. */
export function restoreJob(o: RestorableRow, poolId: string): JobData {
  return {
    kind: 'restore',
    image_uuid: o.image_uuid,
    pool_id: poolId,
    restore: {
      rel_path: o.rel_path,
      size: o.size,
      sha256: o.sha256,
      mime: o.mime,
      user_id: o.user_id,
      session_id: o.session_id,
      created_at: new Date(o.created_at).toISOString(),
      bucket: o.bucket,
      key: o.key,
    },
  };
}
