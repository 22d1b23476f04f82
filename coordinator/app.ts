import { Hono } from 'hono';
import { errorHandler, notFoundHandler } from '../shared/http.js';
import type { CoordinatorEnv } from './auth.js';
import type { CoordinatorDeps } from './deps.js';
import { adminRoutes } from './routes/admin.js';
import { backupReportRoutes } from './routes/backups.js';
import { copyReportRoutes } from './routes/copies.js';
import { imageEventRoutes } from './routes/image-events.js';
import { imageRoutes, userRoutes } from './routes/images.js';
import { internalRoutes } from './routes/internal.js';
import { publicRoutes } from './routes/public.js';
import { restoreListRoutes } from './routes/restore-list.js';
import { sessionRoutes } from './routes/sessions.js';
import { staticPages } from './routes/ui.js';

/** The coordinator's HTTP app, from its deps alone: main.ts serves it, tests call app.request(). */
export function buildApp(deps: CoordinatorDeps): Hono<CoordinatorEnv> {
  const app = new Hono<CoordinatorEnv>();
  app.onError(errorHandler(deps.logger));
  app.notFound(notFoundHandler);
  // Each sub-app is mounted on its own prefix so its auth middleware covers only its routes.
  app.route('/api/v1/upload/sessions', sessionRoutes(deps));
  app.route('/api/v1/images', imageRoutes(deps));
  app.route('/api/v1/users', userRoutes(deps));
  app.route('/api/v1/admin', adminRoutes(deps));
  // Node reports carry their full paths from shared/reports.ts, so node and coordinator cannot drift apart.
  app.route('/', internalRoutes(deps));
  app.route('/', imageEventRoutes(deps));
  app.route('/', copyReportRoutes(deps));
  app.route('/', backupReportRoutes(deps));
  app.route('/', restoreListRoutes(deps));
  app.route('/', publicRoutes(deps));
  // Static pages whose API calls carry the key the person types in.
  app.route(
    '/',
    staticPages([
      { mount: 'admin', dir: 'admin-ui' },
      { mount: 'demo', dir: 'demo-ui', vendor: { 'tus.min.js': 'node_modules/tus-js-client/dist/tus.min.js' } },
    ]),
  );
  return app;
}
