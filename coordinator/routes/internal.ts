import { Hono } from 'hono';
import { isAppError } from '../../shared/errors.js';
import type { CoordinatorEnv } from '../auth.js';
import type { CoordinatorDeps } from '../deps.js';
import { nodeSignedRoutes } from '../node-reports.js';

/** `upload.complete`: a node stored an upload (shared/reports.ts has the path and body). */
export function internalRoutes(deps: CoordinatorDeps) {
  const { repos, metrics, logger } = deps;
  const app = new Hono<CoordinatorEnv>();
  const { report } = nodeSignedRoutes(app, repos.nodes);

  report(
    'upload.complete',
    (c, { body, node }) => {
      const { duplicate, replicate } = repos.sessions.complete(body, node, Date.now(), deps.settings.defaultQuotaBytes);
      if (replicate) deps.durability?.wake();
      metrics.completions.inc({ outcome: duplicate ? 'duplicate' : 'recorded' });
      if (!duplicate) logger.debug({ image_uuid: body.image_uuid, node_id: body.node_id, size: body.size }, 'upload recorded');
      return c.json({ ok: true, duplicate }, 200);
    },
    { refused: (err) => metrics.completions.inc({ outcome: isAppError(err) ? err.code : 'internal' }) },
  );
  return app;
}
