import { AppError, errors } from '../../shared/errors.js';
import type { NodeHeartbeat } from '../../shared/heartbeat.js';
import type { CoordinatorDeps } from '../deps.js';
import { isLive } from '../placement.js';
import { chooseCopyTarget, type TargetNode } from './target.js';

type Repos = Pick<CoordinatorDeps['repos'], 'pools' | 'nodes' | 'copies' | 'moves'>;

export interface MovePreflight {
  objects: number;
  bytes: number;
  target_free_bytes: number | null;
  checks: {
    no_active_move: boolean;
    target_not_draining: boolean;
    target_live: boolean;
    target_up: boolean;
    target_writable: boolean;
    target_has_room: boolean;
  };
  ok: boolean;
}

/**
 * What moving every copy in `source` to `target` takes, and whether it can start now. Unknown
 * pools and a move onto itself are errors; the rest are checks (a dry run shows them all).
 */
export function preflightMove(
  repos: Repos,
  opts: { source: string; target: string; heartbeats: ReadonlyMap<string, NodeHeartbeat>; now: number; maxAgeMs: number },
): MovePreflight {
  const source = repos.pools.get(opts.source);
  if (!source) throw errors.notFound('not_found', `no pool ${opts.source}`);
  const target = repos.pools.get(opts.target);
  if (!target) throw errors.notFound('not_found', `no target pool ${opts.target}`);
  if (source.pool_id === target.pool_id) throw errors.badRequest('same_pool', 'a pool cannot move onto itself');
  const { objects, bytes } = repos.copies.poolTotals(source.pool_id);
  const active = repos.moves.active();
  const hb = opts.heartbeats.get(target.node_id);
  const live = isLive(hb, opts.now, opts.maxAgeMs);
  const hp = live ? hb.pools.find((p) => p.pool_id === target.pool_id) : undefined;
  const pending = repos.copies.pendingBytes().get(target.pool_id) ?? 0;
  const free = hp ? hp.free_bytes - target.reserved_bytes - pending : null;
  const checks = {
    no_active_move: !active.some((m) => m.source_pool_id === source.pool_id),
    target_not_draining: !active.some((m) => m.source_pool_id === target.pool_id),
    target_live: live,
    target_up: repos.nodes.get(target.node_id)?.state === 'up',
    target_writable: hp?.writable ?? false,
    target_has_room: free !== null && free >= bytes,
  };
  return { objects, bytes, target_free_bytes: free, checks, ok: Object.values(checks).every(Boolean) };
}

/** The first failed check as the error the move API answers with. */
export function preflightError(p: MovePreflight, source: string, target: string): AppError | undefined {
  const c = p.checks;
  if (!c.no_active_move) return errors.conflict('move_running', `pool ${source} already has a move running`);
  if (!c.target_not_draining) return errors.conflict('target_draining', `pool ${target} is itself being moved`);
  if (!c.target_live || !c.target_up || !c.target_writable)
    return errors.unavailable('target_unreachable', `pool ${target} has no live, writable node in service`);
  if (!c.target_has_room)
    return new AppError({
      code: 'target_full',
      status: 507,
      message: `pool ${target} has ${p.target_free_bytes} bytes usable, the move needs ${p.bytes}`,
    });
  return undefined;
}

/**
 * A target pool for each pool of a node being drained, chosen like a replica target (another
 * node in service, live, writable, with room; same tier preferred, then most room), counting
 * what earlier pools of the same drain already took. Undefined when some pool has nowhere to go.
 */
export function drainTargets(
  repos: Repos,
  opts: { nodeId: string; heartbeats: ReadonlyMap<string, NodeHeartbeat>; now: number; maxAgeMs: number },
): { source: string; target: string; bytes: number }[] | undefined {
  const nodes = new Map<string, TargetNode>(repos.nodes.list().map((n) => [n.node_id, n]));
  const planned = repos.copies.pendingBytes();
  const draining = new Set(repos.moves.active().map((m) => m.source_pool_id));
  const own = repos.pools.ofNode(opts.nodeId);
  for (const p of own) draining.add(p.pool_id);
  const all = repos.pools.list();
  const plan: { source: string; target: string; bytes: number }[] = [];
  for (const pool of own) {
    const { bytes } = repos.copies.poolTotals(pool.pool_id);
    const choice = chooseCopyTarget({
      pools: all,
      nodes,
      heartbeats: opts.heartbeats,
      now: opts.now,
      maxAgeMs: opts.maxAgeMs,
      size: bytes,
      tier: pool.tier,
      excludeNodes: new Set([opts.nodeId]),
      avoidRegions: new Set(),
      drainingPools: draining,
      plannedBytes: (id) => planned.get(id) ?? 0,
    });
    if (!choice) return undefined;
    planned.set(choice.pool.pool_id, (planned.get(choice.pool.pool_id) ?? 0) + bytes);
    plan.push({ source: pool.pool_id, target: choice.pool.pool_id, bytes });
  }
  return plan;
}
