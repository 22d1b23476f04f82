import { Hono } from 'hono';
import {
  imageEventSchema,
  PURPOSE_IMAGE_FAILED,
  PURPOSE_IMAGE_READY,
  PURPOSE_IMAGE_THUMBNAILS_READY,
  type ImageEventType,
} from '../../shared/api.js';
import { errors } from '../../shared/errors.js';
import { nodeAuth, type CoordinatorEnv } from '../auth.js';
import { imageEventsRepo } from '../db/image-events.js';
import { urlSigner, type CoordinatorDeps } from '../deps.js';
import { imageView } from '../image-view.js';
import { webhookOutboxRepo } from '../webhooks/outbox-repo.js';
import { validate } from '../validate.js';

const ROUTES: [string, ImageEventType, string][] = [
  ['/thumbnails-ready', 'image.thumbnails_ready', PURPOSE_IMAGE_THUMBNAILS_READY],
  ['/ready', 'image.ready', PURPOSE_IMAGE_READY],
  ['/failed', 'image.failed', PURPOSE_IMAGE_FAILED],
];

/**
 * `/api/internal/images/{thumbnails-ready|ready|failed}`: a node reports variant milestones.
 * The state change and the app's webhook row commit together; a repeated event is a 200 that
 * changes nothing and queues nothing.
 */
export function imageEventRoutes(deps: CoordinatorDeps) {
  const app = new Hono<CoordinatorEnv>();
  const events = imageEventsRepo(deps.db, deps.repos.objects);
  const webhooks = webhookOutboxRepo(deps.db);
  const webhookUrl = deps.db.prepare('SELECT webhook_url FROM apps WHERE app_id = ?').pluck();

  const record = deps.db.transaction((body: ReturnType<typeof imageEventSchema.parse>, nodeId: string) => {
    const { object, changed, replica } = events.apply(body, nodeId);
    if (replica || !object) return { changed: false, queued: false, replica };
    const url = webhookUrl.get(object.app_id) as string | null | undefined;
    let queued = false;
    if (changed && url) {
      const eventId = `${body.image_uuid}.${body.event}`;
      const data = imageView(object, urlSigner(deps), deps.repos.copies.ofImage(object.image_uuid), deps.repos.backups.get(object.image_uuid));
      const payload = JSON.stringify({ id: eventId, type: body.event, created_at: new Date().toISOString(), data });
      queued = webhooks.add({ event_id: eventId, app_id: object.app_id, url, event: body.event, payload }, Date.now());
    }
    return { changed, queued, replica: false };
  });

  for (const [path, event, purpose] of ROUTES) {
    app.post(path, nodeAuth({ nodes: deps.repos.nodes, purpose }), (c) => {
      const body = validate(imageEventSchema, c.get('nodeBody'));
      if (body.event !== event) throw errors.badRequest('invalid_body', `this route takes ${event} events`);
      const { changed, queued, replica } = record(body, c.get('nodeClaims').iss);
      if (queued) deps.webhooks?.wake();
      deps.logger.debug({ image_uuid: body.image_uuid, event, changed, replica }, 'image event recorded');
      return c.json({ ok: true, duplicate: !changed, ...(replica ? { replica: true } : {}) });
    });
  }
  return app;
}
