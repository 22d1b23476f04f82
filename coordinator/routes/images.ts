import { Hono } from 'hono';
import { AppError, errors } from '../../shared/errors.js';
import { appAuth, type CoordinatorEnv } from '../auth.js';
import { urlSigner, type CoordinatorDeps } from '../deps.js';
import { imageView } from '../image-view.js';

/** `/api/v1/images/:uuid`: an app sees only its own objects (404 otherwise, not 403: no oracle). */
export function imageRoutes(deps: CoordinatorDeps) {
  const app = new Hono<CoordinatorEnv>();
  app.use('*', appAuth(deps.repos.apps));

  app.get('/:uuid', (c) => {
    const o = deps.repos.objects.get(c.req.param('uuid'));
    if (!o || o.app_id !== c.get('app').app_id) throw errors.notFound('not_found', 'no such image');
    return c.json(imageView(o, urlSigner(deps), deps.repos.copies.ofImage(o.image_uuid), deps.repos.backups.get(o.image_uuid)));
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
