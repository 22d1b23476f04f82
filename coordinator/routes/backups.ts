import { Hono } from 'hono';
import {
  BACKUP_DELETED,
  BACKUP_DELETED_ROUTE,
  BACKUP_SCHEDULED,
  BACKUP_SCHEDULED_ROUTE,
  BACKUP_STORED,
  BACKUP_STORED_ROUTE,
  backupDeletedSchema,
  backupScheduledSchema,
  backupStoredSchema,
} from '../../shared/backup.js';
import { errors } from '../../shared/errors.js';
import { nodeAuth, type CoordinatorEnv } from '../auth.js';
import type { CoordinatorDeps } from '../deps.js';
import { validate } from '../validate.js';

/** Where app.ts mounts these routes; the full paths come from shared/backup.ts. */
export const BACKUP_ROUTES_BASE = '/api/internal/backups';

function under(route: string): string {
  if (!route.startsWith(`${BACKUP_ROUTES_BASE}/`)) throw new Error(`${route} is not under ${BACKUP_ROUTES_BASE}`);
  return route.slice(BACKUP_ROUTES_BASE.length);
}

/**
 * S3 backup reports from nodes' outboxes, each signed for its own kind. A node speaks only for
 * itself and for objects it holds or held (403), its own pool (409); an unknown image is 404 and
 * other bytes are 422 — permanent refusals the outbox marks dead. Repeats are 200 and change nothing.
 */
export function backupReportRoutes(deps: CoordinatorDeps) {
  const { repos, logger } = deps;
  const app = new Hono<CoordinatorEnv>();
  const signer = (purpose: string) => nodeAuth({ nodes: repos.nodes, purpose });
  const ownNode = (claimed: string, issuer: string) => {
    if (claimed !== issuer) throw errors.forbidden('node_mismatch', `node ${issuer} cannot report for ${claimed}`);
  };

  app.post(under(BACKUP_SCHEDULED_ROUTE), signer(BACKUP_SCHEDULED), (c) => {
    const body = validate(backupScheduledSchema, c.get('nodeBody'));
    ownNode(body.node_id, c.get('nodeClaims').iss);
    const { state, changed } = repos.backups.scheduled(body, Date.now());
    if (changed) logger.debug({ image_uuid: body.image_uuid, node_id: body.node_id, due_at: body.due_at }, 'backup scheduled');
    return c.json({ ok: true, state, changed });
  });

  app.post(under(BACKUP_STORED_ROUTE), signer(BACKUP_STORED), (c) => {
    const body = validate(backupStoredSchema, c.get('nodeBody'));
    ownNode(body.node_id, c.get('nodeClaims').iss);
    const { state, changed, other_location } = repos.backups.stored(body, Date.now());
    if (changed) logger.debug({ image_uuid: body.image_uuid, node_id: body.node_id, bucket: body.bucket, key: body.key }, 'backup stored');
    // Two nodes backed the same bytes up to different places: the first stays in the ledger.
    if (other_location)
      logger.info({ image_uuid: body.image_uuid, node_id: body.node_id, bucket: body.bucket, key: body.key }, 'backup reported at another location; the first is kept');
    return c.json({ ok: true, state, changed });
  });

  // A deleted image's backup keys are gone from the bucket (the node ran its backup_delete job).
  app.post(under(BACKUP_DELETED_ROUTE), signer(BACKUP_DELETED), (c) => {
    const body = validate(backupDeletedSchema, c.get('nodeBody'));
    ownNode(body.node_id, c.get('nodeClaims').iss);
    const { changed } = repos.deletions.backupDeleted(body, Date.now());
    if (changed) logger.info({ image_uuid: body.image_uuid, node_id: body.node_id, bucket: body.bucket, keys: body.keys.length }, 'backup of a deleted image deleted');
    return c.json({ ok: true, changed });
  });
  return app;
}
