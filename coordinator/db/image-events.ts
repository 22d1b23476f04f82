import type { Database } from 'better-sqlite3';
import type { ImageEvent } from '../../shared/api.js';
import { AppError, errors } from '../../shared/errors.js';
import { deletedImageLookup } from './deletions.js';
import type { ObjectRow } from './objects.js';

const SELECT = `SELECT o.*, p.public_base_url FROM objects o JOIN pools p ON p.pool_id = o.pool_id WHERE o.image_uuid = ?`;

/**
 * Applies a node's image.* event to the object index. Idempotent and monotonic: an image never
 * goes back from ready/failed, and a repeated or late event changes nothing. Returns the object
 * after the change and whether the event was new (only a new event queues a webhook); an event
 * about a deleted image is accepted with no object.
 */
export function imageEventsRepo(db: Database) {
  const get = db.prepare(SELECT);
  const deletedImage = deletedImageLookup(db);
  const replica = db.prepare('SELECT 1 FROM copies WHERE image_uuid = ? AND pool_id = ? AND node_id = ?').pluck();
  const thumbs = db.prepare(
    `UPDATE objects SET thumbnails_ready = 1, width = @width, height = @height, format = @format, variants = @variants
     WHERE image_uuid = @uuid AND status = 'processing' AND thumbnails_ready = 0`,
  );
  const ready = db.prepare(
    `UPDATE objects SET status = 'ready', thumbnails_ready = 1, width = @width, height = @height, format = @format,
       variants = @variants, failure_reason = NULL
     WHERE image_uuid = @uuid AND status = 'processing'`,
  );
  const failed = db.prepare(
    `UPDATE objects SET status = 'failed', failure_reason = @reason, variants = @variants
     WHERE image_uuid = @uuid AND status = 'processing'`,
  );
  return {
    apply: db.transaction((e: ImageEvent, nodeId: string): { object: ObjectRow | undefined; changed: boolean; replica: boolean; deleted?: true } => {
      const before = get.get(e.image_uuid) as ObjectRow | undefined;
      if (!before) {
        // Deleted while its variants were made: accepted and dropped (a retry would never succeed).
        if (deletedImage(e.image_uuid)) return { object: undefined, changed: false, replica: false, deleted: true };
        // The node's upload.complete may still be on its way (outbox backoff): retry later, not drop.
        throw new AppError({ code: 'unknown_object', status: 503, retryable: true, message: `image ${e.image_uuid} is not recorded yet` });
      }
      // A replica regenerates its variants and reports them like a primary: accepted, not applied
      // (the object and the app's webhooks follow the primary only).
      if ((before.node_id !== nodeId || before.pool_id !== e.pool_id) && replica.get(e.image_uuid, e.pool_id, nodeId))
        return { object: before, changed: false, replica: true };
      if (before.node_id !== nodeId || before.pool_id !== e.pool_id)
        throw errors.forbidden('wrong_node', `image ${e.image_uuid} is not stored on ${nodeId}/${e.pool_id}`);
      const params = {
        uuid: e.image_uuid,
        width: e.width,
        height: e.height,
        format: e.format,
        variants: JSON.stringify(e.variants),
        reason: e.reason ?? 'unknown',
      };
      const stmt = e.event === 'image.ready' ? ready : e.event === 'image.failed' ? failed : thumbs;
      const changed = stmt.run(params).changes === 1;
      return { object: get.get(e.image_uuid) as ObjectRow, changed, replica: false };
    }),
  };
}
export type ImageEventsRepo = ReturnType<typeof imageEventsRepo>;
