import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { errorHandler, notFoundHandler } from '../shared/http.js';
import type { PoolSet } from './pools.js';
import { opsRoutes } from './routes/ops.js';
import { staticRoutes } from './routes/static.js';
import { tusRoutes } from './routes/tus.js';
import type { TusService } from './tus/service.js';
import { uploadRoutes, type UploadDeps } from './routes/upload.js';

/** Everything the HTTP side needs; main.ts builds it, tests build their own. */
export interface AppDeps extends UploadDeps {
  pools: PoolSet;
  /** Resumable uploads (tus 1.0); absent in tests that do not need them. */
  tus?: TusService;
}

export function buildApp(deps: AppDeps): Hono<{ Bindings: HttpBindings }> {
  const app = new Hono<{ Bindings: HttpBindings }>();
  app.onError(errorHandler(deps.logger));
  app.notFound(notFoundHandler);
  app.route('/', opsRoutes(deps));
  app.route('/', uploadRoutes(deps));
  if (deps.tus) app.route('/', tusRoutes({ ...deps, tus: deps.tus }));
  app.route('/', staticRoutes(deps));
  return app;
}
