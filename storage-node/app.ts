import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { errorHandler, notFoundHandler } from '../shared/http.js';
import type { PoolSet } from './pools.js';
import { opsRoutes } from './routes/ops.js';
import { type ReplicateRouteDeps, replicateRoutes } from './routes/replicate.js';
import { staticRoutes } from './routes/static.js';
import { tusRoutes } from './routes/tus.js';
import { type UploadDeps, uploadRoutes } from './routes/upload.js';
import type { TusService } from './tus/service.js';

/** Everything the HTTP side needs; main.ts builds it, tests build their own. */
export interface AppDeps extends UploadDeps {
  pools: PoolSet;
  /** Resumable uploads (tus 1.0); absent in tests that do not need them. */
  tus?: TusService;
  /** Copies from peers (`PUT /api/internal/replicate/…`); the route is mounted only when present. */
  replication?: ReplicationDeps;
}

/** What the replicate route needs beyond the upload deps it shares (store, pools, dirSync, syncDb, outbox, onStored). */
export interface ReplicationDeps {
  /** A registered node's identity key by node id (NodeKeys.resolveNodeKey); undefined = unknown node → 401. */
  resolveNodeKey: ReplicateRouteDeps['resolveNodeKey'];
}

export function buildApp(deps: AppDeps): Hono<{ Bindings: HttpBindings }> {
  const app = new Hono<{ Bindings: HttpBindings }>();
  app.onError(errorHandler(deps.logger));
  app.notFound(notFoundHandler);
  app.route('/', opsRoutes(deps));
  // Before the upload, tus and static routes: it claims replicate PUTs by their raw target.
  if (deps.replication) app.route('/', replicateRoutes({ ...deps, resolveNodeKey: deps.replication.resolveNodeKey }));
  app.route('/', uploadRoutes(deps));
  if (deps.tus) app.route('/', tusRoutes({ ...deps, tus: deps.tus }));
  app.route('/', staticRoutes(deps));
  return app;
}
