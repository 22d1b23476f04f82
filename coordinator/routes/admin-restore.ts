import { Hono } from 'hono';
import { z } from 'zod';
import { errors } from '../../shared/errors.js';
import type { CoordinatorEnv } from '../auth.js';
import { restoreListRepo } from '../db/restore-list.js';
import type { CoordinatorDeps } from '../deps.js';
import { isLive } from '../placement.js';
import { jsonBody } from '../validate.js';

const restoreSchema = z.object({
  since: z
    .string()
    .refine((s) => Number.isFinite(Date.parse(s)), 'not a date')
    .optional(),
});

const PAGE = 500;

/**
 * `POST /api/v1/admin/pools/{pool_id}/restore {since?}`: the admin call beside `fennec-node
 * restore`. Every object the restore list names for the pool (backup stored, homed or with a
 * copy there, uploaded since `since`) gets a `restore` job on the pool's node — the same job the
 * durability loop uses when S3 is an object's last copy, so an original already in place with
 * the right bytes is only reported again, and a missing one comes back verified with its
 * variants regenerated. 202 with the count; the copies ledger and the images API show the
 * progress. 404 for an unknown pool, 409 when its node is not up with a live heartbeat.
 */
export function adminRestoreRoutes(deps: CoordinatorDeps) {
  const list = restoreListRepo(deps.db);
  const app = new Hono<CoordinatorEnv>();
  app.post('/pools/:pool_id/restore', async (c) => {
    const body = await jsonBody(c, restoreSchema);
    const poolId = c.req.param('pool_id');
    const pool = deps.repos.pools.get(poolId);
    if (!pool) throw errors.notFound('unknown_pool', `no pool ${poolId}`);
    const node = deps.repos.nodes.get(pool.node_id);
    const hb = (await deps.heartbeats.get()).get(pool.node_id);
    if (!node || node.state !== 'up' || !isLive(hb, Date.now(), deps.settings.heartbeatMaxAgeMs))
      throw errors.conflict('node_unavailable', `node ${pool.node_id} of pool ${poolId} is not up with a live heartbeat`);
    if (!deps.jobs) throw errors.unavailable('no_queues', 'this coordinator has no job queues');
    const sinceMs = body.since === undefined ? 0 : Date.parse(body.since);
    let queued = 0;
    let failed = 0;
    for (let after = ''; ; ) {
      const items = list.page({ poolId, after, sinceMs, limit: PAGE });
      for (const { image_uuid, ...restore } of items) {
        const outcome = await deps.jobs.ensure(pool.node_id, { kind: 'restore', image_uuid, pool_id: poolId, restore });
        if (outcome === 'error') failed++;
        else queued++;
      }
      if (items.length < PAGE) break;
      after = items[items.length - 1]!.image_uuid;
    }
    deps.logger.info({ pool_id: poolId, node_id: pool.node_id, queued, failed, since: body.since ?? null }, 'restore from S3 requested');
    if (failed > 0 && queued === 0) throw errors.unavailable('redis_unavailable', `could not queue any of ${failed} restore jobs`);
    return c.json({ pool_id: poolId, node_id: pool.node_id, since: body.since ?? null, queued, not_queued: failed }, 202);
  });
  return app;
}
