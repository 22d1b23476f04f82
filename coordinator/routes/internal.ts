import { Hono } from 'hono';
import { PURPOSE_UPLOAD_COMPLETE, uploadCompleteSchema } from '../../shared/api.js';
import { isAppError } from '../../shared/errors.js';
import { nodeAuth, type CoordinatorEnv } from '../auth.js';
import type { CoordinatorDeps } from '../deps.js';
import { validate } from '../validate.js';

/** `/api/internal/*`: calls from storage nodes, each signed with the node's own key. */
export function internalRoutes(deps: CoordinatorDeps) {
  const { repos, metrics, logger } = deps;
  const app = new Hono<CoordinatorEnv>();

  app.post('/uploads/complete', nodeAuth({ nodes: repos.nodes, purpose: PURPOSE_UPLOAD_COMPLETE }), (c) => {
    try {
      const body = validate(uploadCompleteSchema, c.get('nodeBody'));
      const { duplicate, replicate } = repos.sessions.complete(body, c.get('nodeClaims').iss, Date.now());
      if (replicate) deps.durability?.wake();
      metrics.completions.inc({ outcome: duplicate ? 'duplicate' : 'recorded' });
      if (!duplicate)
        logger.debug({ image_uuid: body.image_uuid, node_id: body.node_id, size: body.size }, 'upload recorded');
      return c.json({ ok: true, duplicate }, 200);
    } catch (err) {
      metrics.completions.inc({ outcome: isAppError(err) ? err.code : 'internal' });
      throw err;
    }
  });
  return app;
}
