import { Hono } from 'hono';
import { z } from 'zod';
import { errors } from '../../shared/errors.js';
import type { CoordinatorEnv } from '../auth.js';
import { type MoveState, moveView } from '../db/moves.js';
import type { CoordinatorDeps } from '../deps.js';
import { drainTargets, preflightError, preflightMove } from '../durability/move-plan.js';
import { jsonBody } from '../validate.js';

const moveSchema = z.object({ target_pool_id: z.string().min(1), dry_run: z.boolean().default(false) });

/** Allowed state changes of a move by the operator. */
const ACTIONS: Record<string, { from: MoveState[]; to: MoveState }> = {
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  cancel: { from: ['running', 'paused'], to: 'cancelled' },
};

/**
 * Pool moves and node drains (`/api/v1/admin`, admin key applied by the admin app). The work
 * itself runs in the durability loop; these routes record intent and wake it.
 */
export function adminMoveRoutes(deps: CoordinatorDeps) {
  const { repos, db } = deps;
  const app = new Hono<CoordinatorEnv>();
  const context = async () => ({ heartbeats: await deps.heartbeats.get(), now: Date.now(), maxAgeMs: deps.settings.heartbeatMaxAgeMs });

  app.post('/pools/:pool_id/move', async (c) => {
    const body = await jsonBody(c, moveSchema);
    const source = c.req.param('pool_id');
    const ctx = await context();
    const pre = preflightMove(repos, { source, target: body.target_pool_id, ...ctx });
    if (body.dry_run) {
      const { ok, ...rest } = pre;
      return c.json({ dry_run: true, ok, ...rest });
    }
    const err = preflightError(pre, source, body.target_pool_id);
    if (err) throw err;
    const move = repos.moves.create({ source, target: body.target_pool_id, kind: 'move', now: ctx.now });
    deps.logger.info(
      { move_id: move.move_id, source, target: body.target_pool_id, objects: pre.objects, bytes: pre.bytes },
      'pool move started',
    );
    deps.durability?.wake();
    return c.json(moveView(move, repos.moves), 201);
  });

  app.get('/moves', (c) => c.json({ moves: repos.moves.list().map((m) => moveView(m, repos.moves)) }));

  app.get('/moves/:move_id', (c) => {
    const m = repos.moves.get(c.req.param('move_id'));
    if (!m) throw errors.notFound('not_found', `no move ${c.req.param('move_id')}`);
    return c.json(moveView(m, repos.moves));
  });

  app.post('/moves/:move_id/:action{pause|resume|cancel}', (c) => {
    const { from, to } = ACTIONS[c.req.param('action')]!;
    const m = repos.moves.transition(c.req.param('move_id'), from, to, Date.now());
    deps.durability?.wake();
    return c.json(moveView(m, repos.moves));
  });

  // Every pool of the node moves elsewhere; the node is retired once nothing references it.
  const startDrain = db.transaction((nodeId: string, plan: { source: string; target: string }[], now: number) => {
    const node = repos.nodes.get(nodeId)!;
    if (node.state === 'up' && !repos.nodes.transition(nodeId, 'up', 'draining', now))
      throw errors.conflict('node_state', `node ${nodeId} changed state`);
    return plan.map((p) => repos.moves.create({ source: p.source, target: p.target, kind: 'drain', now }));
  });

  app.post('/nodes/:node_id/drain', async (c) => {
    const nodeId = c.req.param('node_id');
    const node = repos.nodes.get(nodeId);
    if (!node) throw errors.notFound('not_found', `no node ${nodeId}`);
    const own = new Set(repos.pools.ofNode(nodeId).map((p) => p.pool_id));
    // Draining again is allowed once the previous drain's moves ended (e.g. some items failed).
    if (node.state !== 'up' && !(node.state === 'draining' && !repos.moves.active().some((m) => own.has(m.source_pool_id))))
      throw errors.conflict('node_state', `node ${nodeId} is ${node.state}`);
    const plan = drainTargets(repos, { nodeId, ...(await context()) });
    if (!plan) throw errors.conflict('no_target', `no other node in service has room for the pools of ${nodeId}`);
    const moves = startDrain(nodeId, plan, Date.now());
    deps.logger.info({ node_id: nodeId, moves: moves.map((m) => m.move_id) }, 'node drain started');
    deps.durability?.wake();
    return c.json({ node_id: nodeId, state: 'draining', moves: moves.map((m) => moveView(m, repos.moves)) }, 202);
  });
  return app;
}
