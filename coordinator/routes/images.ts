import { Hono } from 'hono';
import { AppError, errors } from '../../shared/errors.js';
import { publicUrl } from '../../shared/paths.js';
import { appAuth, type CoordinatorEnv } from '../auth.js';
import type { ObjectRow } from '../db/objects.js';
import type { CoordinatorDeps } from '../deps.js';

function imageView(o: ObjectRow) {
  return {
    image_uuid: o.image_uuid,
    status: o.status,
    size: o.size,
    sha256: o.sha256,
    mime: o.mime,
    user_id: o.user_id,
    pool_id: o.pool_id,
    node_id: o.node_id,
    visibility: o.visibility,
    created_at: new Date(o.created_at).toISOString(),
    // Dimensions and variants are filled in by the node's variant job (a later issue).
    width: null,
    height: null,
    copies: [{ node_id: o.node_id, pool_id: o.pool_id, state: o.state }],
    urls: { original: publicUrl(o.public_base_url, o.rel_path), variants: {} },
  };
}

/** `/api/v1/images/:uuid`: an app sees only its own objects (404 otherwise, not 403: no oracle). */
export function imageRoutes(deps: CoordinatorDeps) {
  const app = new Hono<CoordinatorEnv>();
  app.use('*', appAuth(deps.repos.apps));

  app.get('/:uuid', (c) => {
    const o = deps.repos.objects.get(c.req.param('uuid'));
    if (!o || o.app_id !== c.get('app').app_id) throw errors.notFound('not_found', 'no such image');
    return c.json(imageView(o));
  });

  app.delete('/:uuid', (c) => {
    const o = deps.repos.objects.get(c.req.param('uuid'));
    if (!o || o.app_id !== c.get('app').app_id) throw errors.notFound('not_found', 'no such image');
    throw new AppError({
      code: 'not_implemented',
      status: 501,
      message: 'delete needs node-side jobs, which are not built yet',
    });
  });
  return app;
}

/** `/api/v1/users/:user_id/usage`. */
export function userRoutes(deps: CoordinatorDeps) {
  const app = new Hono<CoordinatorEnv>();
  app.use('*', appAuth(deps.repos.apps));
  app.get('/:user_id/usage', (c) => {
    const u = deps.repos.users.get(c.req.param('user_id'));
    return c.json({
      user_id: u.user_id,
      used_bytes: u.used_bytes,
      quota_bytes: u.quota_bytes ?? deps.settings.defaultQuotaBytes,
      reserved_bytes: u.reserved_bytes,
      objects: u.objects,
    });
  });
  return app;
}
