import { copyTarget } from '../node-jobs.js';
import type { DurabilityDeps, TickContext } from './context.js';

/**
 * Step g: each running move keeps up to moveBatch items queued as move jobs on the source node;
 * a move with nothing planned or queued left finishes ('failed' when an item failed; missing
 * items are reported, not failures). Paused and cancelled moves queue nothing more.
 */
export async function advanceMoves(deps: DurabilityDeps, ctx: TickContext) {
  const { moves, copies, pools } = deps.repos;
  const { settings, jobs, logger } = deps;
  const stats = { queued: 0, finished: 0 };
  for (const m of moves.active()) {
    if (m.state !== 'running') continue;
    const { counts } = moves.counts(m.move_id);
    if (counts.planned === 0 && counts.queued === 0) {
      const to = counts.failed > 0 ? 'failed' : 'done';
      moves.transition(m.move_id, ['running'], to, ctx.now);
      stats.finished++;
      logger.info({ move_id: m.move_id, state: to, ...counts }, 'move finished');
      continue;
    }
    const free = settings.moveBatch - counts.queued;
    if (free <= 0) continue;
    const sourceNode = pools.get(m.source_pool_id)?.node_id;
    const targetPool = pools.get(m.target_pool_id);
    const targetNode = targetPool && ctx.nodes.get(targetPool.node_id);
    if (!sourceNode || !targetNode) continue;
    for (const item of moves.planned(m.move_id, free)) {
      const src = copies.get(item.image_uuid, m.source_pool_id);
      const atTarget = copies.get(item.image_uuid, m.target_pool_id);
      if (!src) {
        moves.setItem(m.move_id, item.image_uuid, 'missing', ctx.now, { error: 'no copy in the source pool any more' });
      } else if (src.state === 'deleting') {
        moves.setItem(m.move_id, item.image_uuid, 'done', ctx.now, { bytes: 0 });
      } else if (atTarget?.state === 'ok') {
        moves.settleAtTarget(m, item.image_uuid, ctx.now);
      } else if (atTarget) {
        moves.setItem(m.move_id, item.image_uuid, 'failed', ctx.now, { error: `the target pool holds a ${atTarget.state} copy` });
      } else {
        moves.setItem(m.move_id, item.image_uuid, 'queued', ctx.now);
        const outcome = await jobs.ensure(sourceNode, {
          kind: 'move',
          image_uuid: item.image_uuid,
          move_id: m.move_id,
          target: copyTarget(targetNode, m.target_pool_id),
        });
        if (outcome !== 'error') moves.itemEnsured(m.move_id, item.image_uuid, ctx.now);
        stats.queued++;
      }
    }
  }
  return stats;
}

/** Step e for moves: queued items whose job was not ensured lately get it back (any move state: they are in flight). */
export async function reensureMoveItems(deps: DurabilityDeps, ctx: TickContext) {
  const { moves } = deps.repos;
  let ensured = 0;
  for (const item of moves.due(ctx.now - deps.settings.jobRetryMs, deps.settings.repairBatch)) {
    const target = ctx.nodes.get(item.target_node_id);
    if (!target) continue;
    const outcome = await deps.jobs.ensure(item.source_node_id, {
      kind: 'move',
      image_uuid: item.image_uuid,
      move_id: item.move_id,
      target: copyTarget(target, item.target_pool_id),
    });
    if (outcome !== 'error') moves.itemEnsured(item.move_id, item.image_uuid, ctx.now);
    ensured++;
  }
  return { ensured };
}

/** A draining node with no move left and no copy in the index is retired (and may be deregistered). */
export function retireDrained(deps: DurabilityDeps, ctx: TickContext) {
  const { nodes, moves, pools, copies } = deps.repos;
  const busy = new Set(moves.active().map((m) => pools.get(m.source_pool_id)?.node_id));
  const retired: string[] = [];
  for (const n of ctx.nodes.values()) {
    if (n.state !== 'draining' || busy.has(n.node_id) || copies.countOnNode(n.node_id) > 0) continue;
    if (nodes.transition(n.node_id, 'draining', 'retired', ctx.now)) {
      n.state = 'retired';
      retired.push(n.node_id);
      deps.logger.info({ node_id: n.node_id }, 'node drained and retired');
    }
  }
  return { retired };
}
