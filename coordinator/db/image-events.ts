import type { Database } from 'better-sqlite3';
import type { ImageEvent } from '../../shared/api.js';
import { AppError, errors } from '../../shared/errors.js';
import { deletedImageLookup } from './deleted-objects.js';
import type { ObjectRow, ObjectsRepo } from './objects.js';

/** What applying one image event did (see `imageEventsRepo`). */
export interface ImageEventOutcome {
  object: ObjectRow | undefined;
  changed: boolean;
  replica: boolean;
  deleted?: true;
}

/** Applies a node's image.* event to the object index. */
export interface ImageEventsRepo {
  apply(e: ImageEvent, nodeId: string): ImageEventOutcome;
}

/**
 * Applies a node's image.* event to the object index. Idempotent and monotonic: an image never
 * goes back from ready/failed, and a repeated or late event changes nothing. Returns the object
 * after the change and whether the event was new (only a new event queues a webhook); an event
 * about a deleted image is accepted with no object.
 */
export function imageEventsRepo(db: Database, objects: ObjectsRepo): ImageEventsRepo {
  const deletedImage = deletedImageLookup(db);
  const replica = db.prepare('SELECT 1 FROM copies WHERE image_uuid = ? AND pool_id = ? AND node_id = ?').pluck();
  return {
    apply: db.transaction((e: ImageEvent, nodeId: string): ImageEventOutcome => {
      const before = objects.get(e.image_uuid);
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
      const changed = objects.settleProcessing(e.image_uuid, {
        event: e.event,
        width: e.width,
        height: e.height,
        format: e.format,
        variants: JSON.stringify(e.variants),
        reason: e.reason ?? 'unknown',
      });
      return { object: objects.get(e.image_uuid) as ObjectRow, changed, replica: false };
    }),
  };
}
