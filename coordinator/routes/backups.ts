import { Hono } from 'hono';
import { BACKUP_DELETED, BACKUP_SCHEDULED, BACKUP_STORED } from '../../shared/backup.js';
import type { CoordinatorEnv } from '../auth.js';
import type { CoordinatorDeps } from '../deps.js';
import { nodeSignedRoutes } from '../node-reports.js';

/**
 * S3 backup reports from nodes' outboxes, each signed for its own kind. A node speaks only for
 * itself and for objects it holds or held (403), its own pool (409); an unknown image is 404 and
 * other bytes are 422 — permanent refusals the outbox marks dead. Repeats are 200 and change nothing.
 */
export function backupReportRoutes(deps: CoordinatorDeps) {
  const { repos, logger } = deps;
  const app = new Hono<CoordinatorEnv>();
  const { report } = nodeSignedRoutes(app, repos.nodes);

  report(BACKUP_SCHEDULED, (c, { body }) => {
    const { state, changed } = repos.backups.scheduled(body, Date.now());
    if (changed) logger.debug({ image_uuid: body.image_uuid, node_id: body.node_id, due_at: body.due_at }, 'backup scheduled');
    return c.json({ ok: true, state, changed });
  });

  report(BACKUP_STORED, (c, { body }) => {
    const { state, changed, other_location } = repos.backups.stored(body, Date.now());
    if (changed) logger.debug({ image_uuid: body.image_uuid, node_id: body.node_id, bucket: body.bucket, key: body.key }, 'backup stored');
    // Two nodes backed the same bytes up to different places: the first stays in the ledger.
    if (other_location)
      logger.info(
        { image_uuid: body.image_uuid, node_id: body.node_id, bucket: body.bucket, key: body.key },
        'backup reported at another location; the first is kept',
      );
    return c.json({ ok: true, state, changed });
  });

  // A deleted image's backup keys are gone from the bucket (the node ran its backup_delete job).
  report(BACKUP_DELETED, (c, { body }) => {
    const { changed } = repos.deletions.backupDeleted(body, Date.now());
    if (changed)
      logger.info(
        { image_uuid: body.image_uuid, node_id: body.node_id, bucket: body.bucket, keys: body.keys.length },
        'backup of a deleted image deleted',
      );
    return c.json({ ok: true, changed });
  });
  return app;
}
