import { Hono } from 'hono';
import type { NodeStore } from '../db/store.js';
import type { NodeMetrics } from '../metrics.js';
import type { PoolSet } from '../pools.js';

/** `/health` (alive), `/ready` (every pool writable, SQLite answering), `/metrics`. */
export function opsRoutes(deps: { pools: PoolSet; store: NodeStore; metrics: NodeMetrics }): Hono {
  const app = new Hono();
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/ready', async (c) => {
    const checks: Record<string, string> = {};
    let sqliteOk = false;
    try {
      sqliteOk = deps.store.ping();
    } catch {
      sqliteOk = false;
    }
    checks.sqlite = sqliteOk ? 'ok' : 'failed';
    for (const pool of deps.pools.all()) checks[`pool:${pool.config.id}`] = (await deps.pools.probe(pool)) ? 'ok' : 'not_writable';
    const ready = Object.values(checks).every((v) => v === 'ok');
    return c.json({ status: ready ? 'ok' : 'unavailable', checks }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    try {
      deps.metrics.outboxPending.set(deps.store.outboxPending());
    } catch {
      // the gauge keeps its last value when SQLite is closing
    }
    return c.body(await deps.metrics.registry.metrics(), 200, { 'content-type': deps.metrics.registry.contentType });
  });
  return app;
}
