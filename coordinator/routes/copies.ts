import { Hono } from 'hono';
import { errors } from '../../shared/errors.js';
import {
  COPY_REPORT_ROUTES,
  copiesScrubbedSchema,
  copyCorruptSchema,
  copyDeletedSchema,
  copyStoredSchema,
  MOVE_ITEM_ROUTE,
  moveItemReportSchema,
  PURPOSE_MOVE_ITEM,
  type MoveItemAnswer,
} from '../../shared/replication.js';
import { nodeAuth, type CoordinatorEnv } from '../auth.js';
import type { CoordinatorDeps } from '../deps.js';
import { validate } from '../validate.js';

const at = (iso: string) => (Number.isFinite(Date.parse(iso)) ? Date.parse(iso) : Date.now());

/**
 * Copy reports from nodes (their outbox retries until 2xx; 404/409/422 are permanent refusals it
 * marks dead) and the move job's synchronous item report. Each is signed with the node's key for
 * its own purpose, and may only speak for the signing node. All are idempotent.
 */
export function copyReportRoutes(deps: CoordinatorDeps) {
  const { repos, logger } = deps;
  const app = new Hono<CoordinatorEnv>();
  const signer = (purpose: string) => nodeAuth({ nodes: repos.nodes, purpose });
  const ownNode = (claimed: string, issuer: string) => {
    if (claimed !== issuer) throw errors.forbidden('node_mismatch', `node ${issuer} cannot report for ${claimed}`);
  };

  app.post(COPY_REPORT_ROUTES['copy.stored'], signer('copy.stored'), (c) => {
    const body = validate(copyStoredSchema, c.get('nodeBody'));
    ownNode(body.node_id, c.get('nodeClaims').iss);
    const { state, created } = repos.copies.stored(body, Date.now());
    logger.debug({ image_uuid: body.image_uuid, node_id: body.node_id, pool_id: body.pool_id, state, created }, 'copy stored');
    // A repaired or new copy may leave the object with one too many: the loop trims it.
    deps.durability?.wake();
    return c.json({ ok: true, state });
  });

  app.post(COPY_REPORT_ROUTES['copy.corrupt'], signer('copy.corrupt'), (c) => {
    const body = validate(copyCorruptSchema, c.get('nodeBody'));
    ownNode(body.node_id, c.get('nodeClaims').iss);
    const { known } = repos.copies.corrupt(body, Date.now());
    if (known) {
      logger.warn({ image_uuid: body.image_uuid, node_id: body.node_id, pool_id: body.pool_id, reason: body.reason }, 'copy corrupt');
      deps.durability?.wake();
    }
    return c.json({ ok: true, known });
  });

  app.post(COPY_REPORT_ROUTES['copy.deleted'], signer('copy.deleted'), (c) => {
    const body = validate(copyDeletedSchema, c.get('nodeBody'));
    ownNode(body.node_id, c.get('nodeClaims').iss);
    const { removed } = repos.copies.deleted(body);
    if (removed && removed.state !== 'deleting')
      logger.warn({ image_uuid: body.image_uuid, node_id: body.node_id, pool_id: body.pool_id, state: removed.state }, 'a copy not marked for deletion was deleted');
    if (removed) deps.durability?.wake();
    return c.json({ ok: true, removed: removed !== undefined });
  });

  app.post(COPY_REPORT_ROUTES['copies.scrubbed'], signer('copies.scrubbed'), (c) => {
    const body = validate(copiesScrubbedSchema, c.get('nodeBody'));
    ownNode(body.node_id, c.get('nodeClaims').iss);
    const updated = repos.copies.scrubbed(body, at(body.at));
    return c.json({ ok: true, updated });
  });

  app.post(MOVE_ITEM_ROUTE, signer(PURPOSE_MOVE_ITEM), (c) => {
    const body = validate(moveItemReportSchema, c.get('nodeBody'));
    const { delete_source } = repos.moves.report(body, c.get('nodeClaims').iss, Date.now());
    if (body.outcome !== 'copied')
      logger.warn({ move_id: body.move_id, image_uuid: body.image_uuid, outcome: body.outcome, error: body.error }, 'move item not copied');
    // The next items of the move are queued as soon as a slot frees.
    deps.durability?.wake();
    const answer: MoveItemAnswer = { ok: true, delete_source };
    return c.json(answer);
  });
  return app;
}
