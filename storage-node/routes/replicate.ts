import type { HttpBindings } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { errors } from '../../shared/errors.js';
import { REPLICATE_ROUTE_PREFIX } from '../../shared/replication.js';
import { type ReceiveDeps, receiveReplica } from '../replication/receive.js';
import { authorizeReplica, type ReplicaAuthDeps } from '../replication/replica-auth.js';
import { parseReplicaTarget, resolveReplicaFile } from '../replication/replica-path.js';
import { bodySource } from '../upload/ingest.js';
import { lingerThenClose } from '../upload/linger.js';
import type { UploadTracker } from '../upload/tracker.js';

export interface ReplicateRouteDeps extends ReceiveDeps, ReplicaAuthDeps {
  /** In-flight PUTs are waited for (and aborted past the wait) at shutdown, like uploads. */
  tracker: UploadTracker;
}

type Env = { Bindings: HttpBindings };

/**
 * `PUT /api/internal/replicate/{pool_id}/{path}` (README "Copies: replication, scrub, self-repair, pool moves").
 * Mounted as a middleware on every path rather than as a route: the router sees the URL after
 * parsing resolved `..` (`/replicate/p1/../../x` arrives as `/x`), and such a PUT must be
 * refused with 400 `bad_path`, not wander to another route or a 404. The decision uses the raw
 * request target only.
 */
export function replicateRoutes(deps: ReplicateRouteDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.use('*', async function replicatePut(c, next) {
    const raw = c.env.incoming.url ?? '';
    if (c.req.method !== 'PUT' || !(raw.startsWith(REPLICATE_ROUTE_PREFIX) || c.req.path.startsWith(REPLICATE_ROUTE_PREFIX))) return next();
    try {
      return await handlePut(deps, c, raw);
    } catch (err) {
      // An early answer leaves body bytes unread: close rather than reuse the connection, and
      // never drain a large body first.
      if (!c.env.incoming.readableEnded) {
        c.header('connection', 'close');
        lingerThenClose(c.env.incoming);
      }
      throw err;
    }
  });
  return app;
}

async function handlePut(deps: ReplicateRouteDeps, c: Context<Env>, raw: string): Promise<Response> {
  const target = parseReplicaTarget(raw);
  const pool = deps.pools.get(target.poolId);
  if (!pool) throw errors.notFound('unknown_pool', `pool ${target.poolId} is not on node ${deps.nodeId}`);
  const put = await authorizeReplica(deps, target, c.env.incoming.headers);
  // After the token: an unsigned caller learns nothing about what the pool holds.
  const finalPath = await resolveReplicaFile(pool, target.rel);
  // One PUT per token (the sender signs each attempt anew): a captured request replayed within
  // its 10 minutes is refused instead of bringing back a copy just trimmed or deleted.
  if (!deps.store.claimToken(put.jti, put.exp)) throw errors.unauthorized('token_used', 'this replicate token was already used');
  const inflight = deps.tracker.begin();
  try {
    const result = await receiveReplica(deps, {
      pool,
      rel: target.rel,
      finalPath,
      size: put.size,
      sha256: put.sha256,
      meta: put.meta,
      body: () => bodySource(c.env.incoming),
      signal: inflight.signal,
    });
    return c.json(result, result.stored ? 201 : 200);
  } finally {
    inflight.end();
  }
}
