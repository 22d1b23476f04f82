import { Hono } from 'hono';
import { z } from 'zod';
import { errors } from '../../shared/errors.js';
import { adminAuth, type CoordinatorEnv } from '../auth.js';
import type { AppRow } from '../db/apps.js';
import type { CoordinatorDeps } from '../deps.js';
import { jsonBody } from '../validate.js';
import { WEBHOOK_URL_REFUSED, webhookUrlProblem } from '../webhooks/target.js';
import { adminDurabilityRoutes } from './admin-durability.js';
import { adminMoveRoutes } from './admin-moves.js';
import { adminNodeRoutes } from './admin-nodes.js';
import { adminRestoreRoutes } from './admin-restore.js';

const appSchema = z.object({
  name: z.string().min(1).max(200),
  webhook_url: z.url({ protocol: /^https?$/ }).optional(),
});
const quotaSchema = z.object({ quota_bytes: z.number().int().nonnegative().nullable() });

/**
 * Whose user a quota route means: users are an app's (the same user_id in two apps is two
 * users). `?app_id=` names the app; without it, an install with exactly one app means that one,
 * so the old single-app form keeps working, and several apps make it a 400.
 */
function quotaApp(apps: AppRow[], asked: string | undefined): string {
  if (asked !== undefined) {
    if (!apps.some((a) => a.app_id === asked)) throw errors.notFound('app_not_found', `no app ${asked}`);
    return asked;
  }
  if (apps.length === 1) return apps[0]!.app_id;
  throw errors.badRequest('app_id_required', `${apps.length} apps exist: say whose user this is with ?app_id=`);
}

/** `/api/v1/admin/*`: everything here needs the admin key. */
export function adminRoutes(deps: CoordinatorDeps) {
  const { repos } = deps;
  const app = new Hono<CoordinatorEnv>();
  app.use('*', adminAuth(deps.settings.adminKey));

  app.post('/apps', async (c) => {
    const body = await jsonBody(c, appSchema);
    const refused = body.webhook_url && webhookUrlProblem(body.webhook_url, { allowPrivate: deps.settings.webhooks?.allowPrivate });
    if (refused) throw errors.badRequest(WEBHOOK_URL_REFUSED, refused);
    const created = repos.apps.create(body.name, body.webhook_url ?? null);
    // The only time the key is shown: we keep its hash.
    return c.json(
      {
        app_id: created.app_id,
        name: created.name,
        webhook_url: created.webhook_url,
        api_key: created.api_key,
        created_at: new Date(created.created_at).toISOString(),
      },
      201,
    );
  });

  app.get('/apps', (c) =>
    c.json({
      apps: repos.apps.list().map((a) => ({
        app_id: a.app_id,
        name: a.name,
        webhook_url: a.webhook_url,
        created_at: new Date(a.created_at).toISOString(),
      })),
    }),
  );

  app.put('/users/:user_id/quota', async (c) => {
    const body = await jsonBody(c, quotaSchema);
    const appId = quotaApp(repos.apps.list(), c.req.query('app_id'));
    const u = repos.users.setQuota(appId, c.req.param('user_id'), body.quota_bytes);
    return c.json({
      app_id: u.app_id,
      user_id: u.user_id,
      quota_bytes: u.quota_bytes ?? deps.settings.defaultQuotaBytes,
      used_bytes: u.used_bytes,
      reserved_bytes: u.reserved_bytes,
    });
  });

  // Per-node job queues (BullMQ on Redis): counts per state, so the operator sees backlogs and failures.
  app.get('/queues', async (c) => {
    const nodeIds = repos.nodes.list().map((n) => n.node_id);
    return c.json({ queues: deps.queues ? await deps.queues.counts(nodeIds) : [] });
  });

  // Images whose processing failed, newest first, with the node's reason.
  app.get('/failures', (c) => {
    const limit = Math.min(Math.max(Number(c.req.query('limit')) || 50, 1), 500);
    return c.json({
      failures: repos.objects.recentFailures(limit).map((o) => ({
        image_uuid: o.image_uuid,
        app_id: o.app_id,
        user_id: o.user_id,
        node_id: o.node_id,
        pool_id: o.pool_id,
        mime: o.mime,
        size: o.size,
        reason: o.failure_reason,
        created_at: new Date(o.created_at).toISOString(),
      })),
    });
  });

  app.route('/', adminNodeRoutes(deps));
  app.route('/', adminMoveRoutes(deps));
  app.route('/', adminRestoreRoutes(deps));
  app.route('/', adminDurabilityRoutes(deps));
  return app;
}
