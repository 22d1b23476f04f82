import { Hono } from 'hono';
import { z } from 'zod';
import { TIERS } from '../../shared/api.js';
import { errors } from '../../shared/errors.js';
import { ed25519PublicFromJwk } from '../../shared/keys.js';
import type { CoordinatorEnv } from '../auth.js';
import type { NodeRow } from '../db/nodes.js';
import { type PoolRow, poolView } from '../db/pools.js';
import type { CoordinatorDeps } from '../deps.js';
import { isLive } from '../placement.js';
import { jsonBody } from '../validate.js';

const nodeId = z
  .string()
  .regex(/^[a-z0-9-]+$/, 'must match [a-z0-9-]+')
  .max(64);
const poolId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must match [A-Za-z0-9._-]+')
  .max(64);
const httpUrl = z.url({ protocol: /^https?$/ });
const poolSettings = {
  tier: z.enum(TIERS),
  public_base_url: httpUrl,
  weight: z.number().int().min(0).max(1_000_000),
  accepting: z.boolean(),
  replication_factor: z.number().int().min(1).max(16),
};
const poolDefaults = { weight: 100, replication_factor: 1 };
const nodePoolSchema = z.object({
  pool_id: poolId,
  ...poolSettings,
  /** Unset: 'disk' for a new pool, as registered for an existing one. */
  type: z.enum(['disk', 's3']).optional(),
  weight: poolSettings.weight.default(poolDefaults.weight),
  // Unset: a disk pool takes uploads, an s3 pool never does (an explicit true is refused by the repo).
  accepting: poolSettings.accepting.optional(),
  replication_factor: poolSettings.replication_factor.default(poolDefaults.replication_factor),
});
const poolSchema = nodePoolSchema.extend({ node_id: nodeId });
const tieringSchema = z
  .object({ after_seconds: z.number().int().min(1), to_tier: z.enum(['warm', 'cold']) })
  .strict()
  .nullable();
const patchSchema = z
  .object({ ...poolSettings, tiering: tieringSchema })
  .partial()
  .strict();
const nodeSchema = z.object({
  node_id: nodeId,
  public_key: z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string().regex(/^[A-Za-z0-9_-]{43}$/) }).refine((jwk) => {
    try {
      ed25519PublicFromJwk(jwk);
      return true;
    } catch {
      return false;
    }
  }, 'is not an Ed25519 public key'),
  upload_api_url: httpUrl,
  public_url: httpUrl.optional(),
  region: z.string().max(64).optional(),
  replace_key: z.boolean().default(false),
  pools: z.array(nodePoolSchema).max(256).default([]),
});

/** `/api/v1/admin/nodes` and `/api/v1/admin/pools` (auth applied by the admin app). */
export function adminNodeRoutes(deps: CoordinatorDeps) {
  const { repos, db } = deps;
  const app = new Hono<CoordinatorEnv>();

  const nodeView = (n: NodeRow, pools: PoolRow[]) => ({
    node_id: n.node_id,
    public_key: { kty: 'OKP', crv: 'Ed25519', x: n.public_key_x },
    upload_api_url: n.upload_api_url,
    public_url: n.public_url,
    region: n.region,
    created_at: new Date(n.created_at).toISOString(),
    updated_at: new Date(n.updated_at).toISOString(),
    pools: pools.map(poolView),
  });

  // Node and its pools land together or not at all.
  const register = db.transaction((body: z.infer<typeof nodeSchema>) => {
    const { node, created } = repos.nodes.upsert({
      node_id: body.node_id,
      public_key_x: body.public_key.x,
      upload_api_url: body.upload_api_url,
      public_url: body.public_url ?? null,
      region: body.region ?? null,
      replace_key: body.replace_key,
    });
    for (const p of body.pools) repos.pools.upsert({ ...p, node_id: body.node_id });
    return { node, created };
  });

  app.post('/nodes', async (c) => {
    const body = await jsonBody(c, nodeSchema);
    const { node, created } = register(body);
    return c.json(nodeView(node, repos.pools.ofNode(node.node_id)), created ? 201 : 200);
  });

  app.delete('/nodes/:node_id', (c) => {
    const nodeId = c.req.param('node_id');
    repos.nodes.remove(nodeId);
    return c.json({ node_id: nodeId, deregistered: true });
  });

  /**
   * The operator writes a node off (disk gone, VPS deleted): at once, not after the down grace.
   * Its copies leave the index, moves from or to it fail, primaries on it switch to a good copy,
   * and the loop repairs what is now short of copies. Idempotent.
   */
  const declareLost = db.transaction((nodeId: string, now: number) => {
    const node = repos.nodes.get(nodeId);
    if (!node) throw errors.notFound('not_found', `no node ${nodeId}`);
    if (node.state === 'lost') return { copies_removed: 0, primaries_switched: 0, moves_failed: [] as string[] };
    repos.nodes.transition(nodeId, node.state, 'lost', now);
    const moves_failed = repos.moves.failForNode(nodeId, now);
    const affected = repos.copies.removeOfNode(nodeId);
    const primaries_switched = affected.filter((uuid) => repos.copies.failover(uuid)).length;
    return { copies_removed: affected.length, primaries_switched, moves_failed };
  });

  app.post('/nodes/:node_id/lost', (c) => {
    const nodeId = c.req.param('node_id');
    const result = declareLost(nodeId, Date.now());
    deps.logger.warn({ node_id: nodeId, ...result }, 'node declared lost');
    deps.durability?.wake();
    return c.json({ node_id: nodeId, state: 'lost', ...result });
  });

  app.get('/nodes', async (c) => {
    const heartbeats = await deps.heartbeats.get();
    const now = Date.now();
    const nodes = repos.nodes.list().map((n) => {
      const hb = heartbeats.get(n.node_id);
      const live = isLive(hb, now, deps.settings.heartbeatMaxAgeMs);
      return {
        node_id: n.node_id,
        upload_api_url: n.upload_api_url,
        public_url: n.public_url,
        region: n.region,
        state: n.state,
        last_seen_at: n.last_seen_at === null ? null : new Date(n.last_seen_at).toISOString(),
        status: live ? 'online' : hb ? 'stale' : 'offline',
        heartbeat_age_ms: hb ? now - hb.ts : null,
        version: hb?.version ?? null,
        accepting: live && hb.accepting,
        active_uploads: hb?.active_uploads ?? 0,
        queue_depth: hb?.queue_depth ?? 0,
        pools: repos.pools.ofNode(n.node_id).map((p) => {
          const hp = hb?.pools.find((x) => x.pool_id === p.pool_id);
          return {
            pool_id: p.pool_id,
            tier: p.tier,
            type: p.type,
            weight: p.weight,
            accepting: p.accepting === 1 && (hp?.accepting ?? false),
            writable: hp?.writable ?? null,
            free_bytes: hp?.free_bytes ?? null,
            total_bytes: hp?.total_bytes ?? null,
            used_bytes: hp?.used_bytes ?? null,
            reserved_bytes: p.reserved_bytes,
          };
        }),
      };
    });
    return c.json({ nodes });
  });

  app.post('/pools', async (c) => {
    const body = await jsonBody(c, poolSchema);
    if (!repos.nodes.get(body.node_id)) throw errors.badRequest('unknown_node', `node ${body.node_id} is not registered`);
    const { pool, created } = repos.pools.upsert(body);
    return c.json(poolView(pool), created ? 201 : 200);
  });

  app.get('/pools', (c) => c.json({ pools: repos.pools.list().map(poolView) }));

  app.patch('/pools/:pool_id', async (c) => {
    const body = await jsonBody(c, patchSchema);
    const current = repos.pools.get(c.req.param('pool_id'));
    const tier = body.tier ?? current?.tier;
    const toTier = body.tiering === undefined ? current?.tiering_to_tier : body.tiering?.to_tier;
    // A policy into the pool's own tier would shuttle objects between pools of that tier forever.
    if (current && toTier && toTier === tier)
      throw errors.badRequest('invalid_tiering', `pool ${current.pool_id} is already ${tier}; tiering must go to another tier`);
    // Nothing moves out of a bucket (its node would have to download and re-serve every file).
    if (current?.type === 's3' && body.tiering)
      throw errors.badRequest('invalid_tiering', `pool ${current.pool_id} is an s3 pool: objects do not move out of it`);
    const pool = repos.pools.patch(c.req.param('pool_id'), body);
    // A changed factor is acted on now: new replicas, or surplus copies trimmed.
    if (body.replication_factor !== undefined) deps.durability?.wake();
    return c.json(poolView(pool));
  });
  return app;
}
