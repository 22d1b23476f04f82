import { Hono } from 'hono';
import { errors } from '../../shared/errors.js';
import { RESTORE_LIST_DEFAULT_LIMIT, RESTORE_LIST_MAX_LIMIT, type RestorePage } from '../../shared/restore.js';
import type { CoordinatorEnv } from '../auth.js';
import { restoreListRepo } from '../db/restore-list.js';
import type { CoordinatorDeps } from '../deps.js';
import { nodeSignedRoutes } from '../node-reports.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function query(c: { req: { query: (k: string) => string | undefined } }) {
  const since = c.req.query('since');
  const sinceMs = since === undefined ? 0 : Date.parse(since);
  if (!Number.isFinite(sinceMs)) throw errors.badRequest('invalid_query', `since: not a date: ${since}`);
  const after = c.req.query('after') ?? '';
  if (after !== '' && !UUID.test(after)) throw errors.badRequest('invalid_query', 'after: not a UUID');
  const rawLimit = c.req.query('limit');
  const limit = rawLimit === undefined ? RESTORE_LIST_DEFAULT_LIMIT : Number(rawLimit);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > RESTORE_LIST_MAX_LIMIT)
    throw errors.badRequest('invalid_query', `limit: an integer from 1 to ${RESTORE_LIST_MAX_LIMIT}`);
  return { sinceMs, after: after.toLowerCase(), limit };
}

/**
 * `GET /api/internal/pools/:pool_id/restore-list`: the pages a node restoring a pool from S3
 * walks. Only the node that owns the pool may ask (403), for a pool the coordinator knows (404):
 * the list names users' objects and where their bytes are.
 */
export function restoreListRoutes(deps: CoordinatorDeps) {
  const repo = restoreListRepo(deps.db);
  const app = new Hono<CoordinatorEnv>();
  nodeSignedRoutes(app, deps.repos.nodes).query('restore.list', (c, node) => {
    const poolId = c.req.param('pool_id');
    if (poolId === undefined) throw errors.notFound('unknown_pool', 'no pool');
    const owner = repo.poolNode(poolId);
    if (owner === undefined) throw errors.notFound('unknown_pool', `no pool ${poolId}`);
    if (owner !== node) throw errors.forbidden('not_pool_owner', `pool ${poolId} is not a pool of node ${node}`);
    const q = query(c);
    const items = repo.page({ poolId, ...q });
    const page: RestorePage = { items, next_after: items.length === q.limit ? items[items.length - 1]!.image_uuid : null };
    return c.json(page);
  });
  return app;
}
