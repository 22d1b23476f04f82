import type { DurabilityDeps, TickContext } from './context.js';
import { chooseCopyTarget, type TargetNode } from './target.js';

/**
 * Tiering: for each pool with a policy, objects whose primary is there and that are older than
 * after_seconds (and in no open move) get a move of kind 'tier' to a pool of the policy's tier,
 * up to repairBatch objects per pool per run. The target is chosen like a copy target (live,
 * node up, writable, room), on another node when there is one, else on the same node (a local
 * move, or into an s3 pool of that node: the S3 cold tier). One open tier move per (source,
 * target) pair; the move machinery does the rest, and the object's home pool (factor and tier)
 * follows it: moved into an s3 pool (factor 1), its replicas elsewhere become surplus and are
 * trimmed, the primary (the bucket's copy) staying.
 */
export function planTiering(deps: DurabilityDeps, ctx: TickContext) {
  const { pools, moves } = deps.repos;
  const stats = { moves: 0, objects: 0, no_target: 0 };
  const all = pools.list();
  const active = moves.active();
  const openPairs = new Set(active.filter((m) => m.kind === 'tier').map((m) => `${m.source_pool_id}\n${m.target_pool_id}`));
  // A pool being emptied by a plain move or a drain is left to it.
  const emptied = new Set(active.filter((m) => m.kind !== 'tier').map((m) => m.source_pool_id));
  const nodes = new Map<string, TargetNode>([...ctx.nodes].map(([id, n]) => [id, n]));
  for (const pool of pools.tiered()) {
    if (pool.tiering_after_seconds === null || pool.tiering_to_tier === null || emptied.has(pool.pool_id)) continue;
    const objects = moves.tierCandidates(pool.pool_id, ctx.now - pool.tiering_after_seconds * 1000, deps.settings.repairBatch);
    if (objects.length === 0) continue;
    const size = objects.reduce((n, o) => n + o.size, 0);
    const candidates = all.filter((p) => p.tier === pool.tiering_to_tier && p.pool_id !== pool.pool_id);
    const choose = (excludeNodes: ReadonlySet<string>, s3OnNode?: string) =>
      chooseCopyTarget({
        pools: candidates,
        nodes,
        heartbeats: ctx.heartbeats,
        now: ctx.now,
        maxAgeMs: deps.settings.heartbeatMaxAgeMs,
        size,
        tier: pool.tiering_to_tier!,
        excludeNodes,
        avoidRegions: new Set(),
        drainingPools: ctx.drainingPools,
        plannedBytes: (id) => ctx.plannedBytes.get(id) ?? 0,
        s3OnNode,
      });
    // A disk pool elsewhere first, as ever; else this node's pools of the tier, s3 pools included
    // (a bucket is filled by the node that holds its credentials, from a disk pool of its own).
    const choice = choose(new Set([pool.node_id])) ?? choose(new Set(), pool.node_id);
    if (!choice) {
      stats.no_target++;
      continue;
    }
    const target = choice.pool.pool_id;
    if (openPairs.has(`${pool.pool_id}\n${target}`)) continue;
    const move = moves.createTier({ source: pool.pool_id, target, uuids: objects.map((o) => o.image_uuid), now: ctx.now });
    openPairs.add(`${pool.pool_id}\n${target}`);
    ctx.plannedBytes.set(target, (ctx.plannedBytes.get(target) ?? 0) + size);
    stats.moves++;
    stats.objects += objects.length;
    deps.logger.info({ move_id: move.move_id, source: pool.pool_id, target, objects: objects.length, bytes: size }, 'tier move started');
  }
  return stats;
}
