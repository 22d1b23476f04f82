import { Hono } from 'hono';
import { IMAGE_EVENTS, type ImageEvent } from '../../shared/api.js';
import type { CoordinatorEnv } from '../auth.js';
import { imageEventsRepo } from '../db/image-events.js';
import { type CoordinatorDeps, urlSigner } from '../deps.js';
import { imageView } from '../image-view.js';
import { nodeSignedRoutes } from '../node-reports.js';
import { webhookOutboxRepo } from '../webhooks/outbox-repo.js';

/**
 * The image-event reports (shared/reports.ts): a node reports variant milestones.
 * The state change and the app's webhook row commit together; a repeated event is a 200 that
 * changes nothing and queues nothing.
 */
export function imageEventRoutes(deps: CoordinatorDeps) {
  const app = new Hono<CoordinatorEnv>();
  const events = imageEventsRepo(deps.db, deps.repos.objects);
  const webhooks = webhookOutboxRepo(deps.db);
  const webhookUrl = deps.db.prepare('SELECT webhook_url FROM apps WHERE app_id = ?').pluck();

  const record = deps.db.transaction((body: ImageEvent, nodeId: string) => {
    const { object, changed, replica } = events.apply(body, nodeId);
    if (replica || !object) return { changed: false, queued: false, replica };
    const url = webhookUrl.get(object.app_id) as string | null | undefined;
    let queued = false;
    if (changed && url) {
      const eventId = `${body.image_uuid}.${body.event}`;
      const data = imageView(
        object,
        urlSigner(deps),
        deps.repos.copies.ofImage(object.image_uuid),
        deps.repos.backups.get(object.image_uuid),
      );
      const payload = JSON.stringify({ id: eventId, type: body.event, created_at: new Date().toISOString(), data });
      queued = webhooks.add({ event_id: eventId, app_id: object.app_id, url, event: body.event, payload }, Date.now());
    }
    return { changed, queued, replica: false };
  });

  const { report } = nodeSignedRoutes(app, deps.repos.nodes);
  for (const event of IMAGE_EVENTS) {
    report(event, (c, { body, node }) => {
      const { changed, queued, replica } = record(body, node);
      if (queued) deps.webhooks?.wake();
      deps.logger.debug({ image_uuid: body.image_uuid, event, changed, replica }, 'image event recorded');
      return c.json({ ok: true, duplicate: !changed, ...(replica ? { replica: true } : {}) });
    });
  }
  return app;
}
