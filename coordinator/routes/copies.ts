import { Hono } from 'hono';
import type { MoveItemAnswer } from '../../shared/replication.js';
import type { CoordinatorEnv } from '../auth.js';
import type { CoordinatorDeps } from '../deps.js';
import { nodeSignedRoutes } from '../node-reports.js';

const at = (iso: string) => (Number.isFinite(Date.parse(iso)) ? Date.parse(iso) : Date.now());

/**
 * Copy reports from nodes (their outbox retries until 2xx; 404/409/422 are permanent refusals it
 * marks dead) and the move job's synchronous item report. Each is signed with the node's key for
 * its own purpose, and may only speak for the signing node. All are idempotent.
 */
export function copyReportRoutes(deps: CoordinatorDeps) {
  const { repos, logger } = deps;
  const app = new Hono<CoordinatorEnv>();
  const { report } = nodeSignedRoutes(app, repos.nodes);

  report('copy.stored', (c, { body }) => {
    const { state, created } = repos.copies.stored(body, Date.now());
    logger.debug({ image_uuid: body.image_uuid, node_id: body.node_id, pool_id: body.pool_id, state, created }, 'copy stored');
    // A repaired or new copy may leave the object with one too many: the loop trims it.
    deps.durability?.wake();
    return c.json({ ok: true, state });
  });

  report('copy.corrupt', (c, { body }) => {
    const { known } = repos.copies.corrupt(body, Date.now());
    if (known) {
      logger.warn({ image_uuid: body.image_uuid, node_id: body.node_id, pool_id: body.pool_id, reason: body.reason }, 'copy corrupt');
      deps.durability?.wake();
    }
    return c.json({ ok: true, known });
  });

  report('copy.deleted', (c, { body }) => {
    const { removed } = repos.copies.deleted(body);
    if (removed && removed.state !== 'deleting')
      logger.warn(
        { image_uuid: body.image_uuid, node_id: body.node_id, pool_id: body.pool_id, state: removed.state },
        'a copy not marked for deletion was deleted',
      );
    if (removed) deps.durability?.wake();
    return c.json({ ok: true, removed: removed !== undefined });
  });

  report('copies.scrubbed', (c, { body }) => {
    const updated = repos.copies.scrubbed(body, at(body.at));
    return c.json({ ok: true, updated });
  });

  report('move.item', (c, { body, node }) => {
    const { delete_source } = repos.moves.report(body, node, Date.now());
    if (body.outcome !== 'copied')
      logger.warn({ move_id: body.move_id, image_uuid: body.image_uuid, outcome: body.outcome, error: body.error }, 'move item not copied');
    // The next items of the move are queued as soon as a slot frees.
    deps.durability?.wake();
    const answer: MoveItemAnswer = { ok: true, delete_source };
    return c.json(answer);
  });
  return app;
}
