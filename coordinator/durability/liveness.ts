import { isLive } from '../placement.js';
import type { DurabilityDeps, TickContext } from './context.js';

/**
 * Step a: node lifecycle from the heartbeats. Seen → last_seen_at; a 'down' node seen again is
 * back in service (or back to draining if its drain is still on); 'up' or 'draining' unseen past
 * the grace → 'down'. 'lost' and 'retired' are the operator's word and stay.
 * When no node at all is live the coordinator's own view is broken (Redis unreachable): nobody
 * is marked down on that evidence.
 */
export function applyLiveness(deps: DurabilityDeps, ctx: TickContext, lostLogged: Set<string>): { down: string[]; back: string[] } {
  const { nodes, moves, pools } = deps.repos;
  const { settings, logger } = deps;
  const down: string[] = [];
  const back: string[] = [];
  const live = new Set([...ctx.nodes.keys()].filter((id) => isLive(ctx.heartbeats.get(id), ctx.now, settings.heartbeatMaxAgeMs)));
  const draining = () =>
    new Set(
      moves
        .active()
        .filter((m) => m.kind === 'drain')
        .map((m) => pools.get(m.source_pool_id)?.node_id),
    );

  for (const n of ctx.nodes.values()) {
    if (live.has(n.node_id)) {
      nodes.markSeen(n.node_id, ctx.now);
      n.last_seen_at = ctx.now;
      if (n.state === 'down') {
        const to = draining().has(n.node_id) ? 'draining' : 'up';
        if (nodes.transition(n.node_id, 'down', to, ctx.now)) {
          n.state = to;
          back.push(n.node_id);
          logger.info({ node_id: n.node_id, state: to }, 'node is back');
        }
      } else if (n.state === 'lost' && !lostLogged.has(n.node_id)) {
        lostLogged.add(n.node_id);
        logger.warn({ node_id: n.node_id }, 'a node declared lost heartbeats again; it stays lost and gets no copies or uploads');
      }
      continue;
    }
    if (live.size === 0) continue;
    if (n.state !== 'up' && n.state !== 'draining') continue;
    const since = n.last_seen_at ?? n.created_at;
    if (ctx.now - since <= settings.nodeDownGraceMs) continue;
    if (nodes.transition(n.node_id, n.state, 'down', ctx.now)) {
      n.state = 'down';
      down.push(n.node_id);
      logger.warn({ node_id: n.node_id, unseen_ms: ctx.now - since }, 'node down: its copies no longer count, repair begins');
    }
  }
  return { down, back };
}
