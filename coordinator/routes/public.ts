import { type Context, Hono } from 'hono';
import { errors } from '../../shared/errors.js';
import { publicUrl } from '../../shared/paths.js';
import { NODE_KEYS_PATH } from '../../shared/replication.js';
import type { CoordinatorEnv } from '../auth.js';
import type { ObjectRow } from '../db/objects.js';
import { type CoordinatorDeps, urlSigner } from '../deps.js';
import { fileUrl, variantFiles } from '../image-view.js';
import { isLive } from '../placement.js';

/** Unauthenticated routes: image redirects, the JWKS, probes and metrics. */
export function publicRoutes(deps: CoordinatorDeps) {
  const app = new Hono<CoordinatorEnv>();
  const jwks = JSON.stringify(deps.signingKeys.jwks);

  /**
   * A public file: its URL, cacheable. A private one: only for the owning app's key (anyone else
   * gets the same 404 as for a missing image), answered with a freshly signed URL, never cached.
   */
  const target = (c: Context, o: ObjectRow, rel: string): string => {
    if (o.visibility !== 'private') {
      c.header('cache-control', 'public, max-age=60');
      return publicUrl(o.public_base_url, rel);
    }
    const key = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1];
    const app = key ? deps.repos.apps.byApiKey(key) : undefined;
    if (!app || app.app_id !== o.app_id) throw errors.notFound('not_found', 'no such image');
    c.header('cache-control', 'private, no-store');
    return fileUrl(o, rel, urlSigner(deps));
  };

  /**
   * Where to send a reader: the primary while its node heartbeats, else any good copy on a node
   * that does (same relative path under that pool's public URL), else the primary anyway.
   */
  const locate = async (o: ObjectRow): Promise<ObjectRow> => {
    const heartbeats = await deps.heartbeats.get();
    const now = Date.now();
    const live = (nodeId: string) => isLive(heartbeats.get(nodeId), now, deps.settings.heartbeatMaxAgeMs);
    if (live(o.node_id)) return o;
    const copy = deps.repos.copies
      .ofImage(o.image_uuid)
      .find((x) => x.state === 'ok' && (x.node_state === 'up' || x.node_state === 'draining') && live(x.node_id));
    const pool = copy && deps.repos.pools.get(copy.pool_id);
    return pool ? { ...o, pool_id: pool.pool_id, node_id: pool.node_id, public_base_url: pool.public_base_url } : o;
  };

  // Downloads never flow through here: a 302 to wherever the file lives now.
  app.get('/i/:uuid', async (c) => {
    const o = deps.repos.objects.get(c.req.param('uuid'));
    if (!o) throw errors.notFound('not_found', 'no such image');
    return c.redirect(target(c, await locate(o), o.rel_path), 302);
  });

  // Variant names as in the image API: `small.webp`, `medium.jpg`, `full.avif`…
  app.get('/i/:uuid/:variant', async (c) => {
    const o = deps.repos.objects.get(c.req.param('uuid'));
    if (!o) throw errors.notFound('not_found', 'no such image');
    if (o.visibility === 'private') target(c, o, o.rel_path); // the owner check first: no oracle for others
    const name = c.req.param('variant');
    const v = variantFiles(o).find((f) => f.name === name);
    if (!v) throw errors.notFound('not_found', `variant ${name} does not exist (yet)`);
    return c.redirect(target(c, await locate(o), v.rel_path), 302);
  });

  app.get('/.well-known/jwks.json', (c) => {
    c.header('content-type', 'application/json');
    // Short enough that nodes see a rotation soon; they also refetch on an unknown kid.
    c.header('cache-control', 'public, max-age=300');
    return c.body(jwks);
  });

  // Peers verify replicate PUTs with these (kid = node id). Public keys only; short-lived so a
  // newly registered node is known soon, and nodes refetch on an unknown kid anyway.
  app.get(NODE_KEYS_PATH, (c) => {
    const keys = deps.repos.nodes
      .list()
      .map((n) => ({ kty: 'OKP', crv: 'Ed25519', x: n.public_key_x, kid: n.node_id, alg: 'EdDSA', use: 'sig' }));
    c.header('cache-control', 'public, max-age=60');
    return c.json({ keys });
  });

  app.get('/health', (c) => c.json({ status: 'ok' }));

  app.get('/ready', async (c) => {
    const checks = { sqlite: 'ok', redis: 'ok' };
    try {
      deps.db.prepare('SELECT 1').get();
    } catch {
      checks.sqlite = 'fail';
    }
    try {
      await Promise.race([deps.redis.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 1000).unref())]);
    } catch {
      checks.redis = 'fail';
    }
    const ok = checks.sqlite === 'ok' && checks.redis === 'ok';
    return c.json({ status: ok ? 'ok' : 'unavailable', checks }, ok ? 200 : 503);
  });

  app.get('/metrics', async (c) => {
    c.header('content-type', deps.metrics.registry.contentType);
    return c.body(await deps.metrics.registry.metrics());
  });
  return app;
}
