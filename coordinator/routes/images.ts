import { Hono } from 'hono';
import { errors } from '../../shared/errors.js';
import { appAuth, type CoordinatorEnv } from '../auth.js';
import type { AppRow } from '../db/apps.js';
import { type CoordinatorDeps, urlSigner } from '../deps.js';
import { imageView } from '../image-view.js';
import { webhookOutboxRepo } from '../webhooks/outbox-repo.js';

/** `/api/v1/images/:uuid`: an app sees only its own objects (404 otherwise, not 403: no oracle). */
export function imageRoutes(deps: CoordinatorDeps) {
  const app = new Hono<CoordinatorEnv>();
  app.use('*', appAuth(deps.repos.apps));
  const webhooks = webhookOutboxRepo(deps.db);
  // The delete and its `image.deleted` webhook commit together, as the node's events do.
  const deleteImage = deps.db.transaction((uuid: string, caller: AppRow, now: number) => {
    const result = deps.repos.deletions.delete(uuid, caller.app_id, now);
    let queued = false;
    if (result.outcome === 'deleted' && caller.webhook_url) {
      const eventId = `${uuid}.image.deleted`;
      const at = new Date(now).toISOString();
      const { user_id, size, sha256 } = result.row;
      const payload = JSON.stringify({
        id: eventId,
        type: 'image.deleted',
        created_at: at,
        data: { image_uuid: uuid, user_id, size, sha256, deleted_at: at },
      });
      queued = webhooks.add({ event_id: eventId, app_id: caller.app_id, url: caller.webhook_url, event: 'image.deleted', payload }, now);
    }
    return { result, queued };
  });

  app.get('/:uuid', (c) => {
    const o = deps.repos.objects.get(c.req.param('uuid'));
    if (!o || o.app_id !== c.get('app').app_id) throw errors.notFound('not_found', 'no such image');
    return c.json(imageView(o, urlSigner(deps), deps.repos.copies.ofImage(o.image_uuid), deps.repos.backups.get(o.image_uuid)));
  });

  /**
   * 204: the image is gone from the index at once (its URLs, /i and the API answer 404, its bytes
   * leave the user's usage); its files are deleted by node jobs soon after, and its S3 backup
   * after FENNEC_BACKUP_DELETE_GRACE_SECONDS. A repeated DELETE by the same app is 204 again, so
   * an app that lost the first answer can simply retry. An app with a webhook URL gets one
   * `image.deleted` (its other services may hold the image's URLs).
   */
  app.delete('/:uuid', (c) => {
    const uuid = c.req.param('uuid');
    const { result, queued } = deleteImage(uuid, c.get('app'), Date.now());
    if (result.outcome === 'not_found') throw errors.notFound('not_found', 'no such image');
    if (queued) deps.webhooks?.wake();
    if (result.outcome === 'deleted') {
      deps.logger.info({ image_uuid: uuid, app_id: result.row.app_id, copies: result.copies, backup: result.backup }, 'image deleted');
      deps.durability?.wake();
    }
    return c.body(null, 204);
  });
  return app;
}

/** `/api/v1/users/:user_id/usage`. */
export function userRoutes(deps: CoordinatorDeps) {
  const app = new Hono<CoordinatorEnv>();
  app.use('*', appAuth(deps.repos.apps));
  app.get('/:user_id/usage', (c) => {
    const u = deps.repos.users.get(c.get('app').app_id, c.req.param('user_id'));
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
