import type { HttpBindings } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { type DuplicateResponse, type SessionResponse, sha256HexSchema, TIERS } from '../../shared/api.js';
import { clientAddress } from '../../shared/client-address.js';
import { errors, isAppError } from '../../shared/errors.js';
import { addressBucket } from '../../shared/ip-address.js';
import { signUploadToken } from '../../shared/tokens.js';
import { appAuth, type CoordinatorEnv } from '../auth.js';
import { type CoordinatorDeps, urlSigner } from '../deps.js';
import { fileUrl } from '../image-view.js';
import { jsonBody } from '../validate.js';

const sessionBodySchema = z.object({
  user_id: z.string().min(1).max(256),
  file_size: z.number().int().positive(),
  content_type: z.string().max(255).optional(),
  filename: z.string().max(1024).optional(),
  tier: z.enum(TIERS).default('hot'),
  visibility: z.enum(['public', 'private']).default('public'),
  sha256: z.string().toLowerCase().pipe(sha256HexSchema).optional(),
  client_ip: z.union([z.ipv4(), z.ipv6()]).optional(),
});

/** FENNEC_SESSION_GRACE_SECONDS' default, for settings built without it (tests). */
const DEFAULT_GRACE_SECONDS = 3600;

/** The caller's address (X-Real-IP from the local nginx); absent without a socket (tests use app.request()). */
function socketAddress(c: Context): string {
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
  return incoming?.socket ? clientAddress(incoming) : 'unknown';
}

/**
 * `POST /api/v1/upload/sessions`: quota, rate limit, placement, one transaction, one signature.
 * This is the hot path (thousands per second): no Redis beyond the rate limits, no SQL parsing.
 */
export function sessionRoutes(deps: CoordinatorDeps) {
  const { settings, repos, metrics, signingKeys } = deps;
  const app = new Hono<CoordinatorEnv>();
  app.use('*', appAuth(repos.apps));

  app.post('/', async (c) => {
    try {
      const body = await jsonBody(c, sessionBodySchema);
      if (body.file_size > settings.maxFileBytes)
        throw errors.tooLarge(`file_size ${body.file_size} exceeds the limit of ${settings.maxFileBytes} bytes`);
      // The app's client_ip counts in the same buckets as a socket's address (native IPv6 by /64).
      await deps.rateLimits.consume(body.user_id, body.client_ip ? addressBucket(body.client_ip) : socketAddress(c));
      const appRow = c.get('app');

      if (body.sha256) {
        const dup = repos.objects.findDuplicate(appRow.app_id, body.user_id, body.sha256);
        if (dup) {
          metrics.sessions.inc({ outcome: 'duplicate' });
          const res: DuplicateResponse = {
            duplicate: true,
            image_uuid: dup.image_uuid,
            sha256: dup.sha256,
            size: dup.size,
            mime: dup.mime,
            urls: { original: fileUrl(dup, dup.rel_path, urlSigner(deps)) },
          };
          return c.json(res, 200);
        }
      }

      const heartbeats = await deps.heartbeats.get();
      const now = Date.now();
      const created = repos.sessions.create(
        {
          app_id: appRow.app_id,
          user_id: body.user_id,
          file_size: body.file_size,
          sha256: body.sha256 ?? null,
          content_type: body.content_type ?? null,
          filename: body.filename ?? null,
          tier: body.tier,
          visibility: body.visibility,
        },
        {
          heartbeats,
          now,
          maxAgeMs: settings.heartbeatMaxAgeMs,
          defaultQuotaBytes: settings.defaultQuotaBytes,
          ttlMs: settings.tokenTtlSeconds * 1000,
        },
      );
      const { pool } = created.placement;
      // Placement only offers pools of registered nodes, so the row is there.
      const urls = repos.nodes.uploadUrls(pool.node_id);
      if (!urls) throw errors.unavailable('no_capacity', `node ${pool.node_id} is no longer registered`);
      const token = await signUploadToken(
        {
          iss: settings.issuer,
          aud: pool.node_id,
          sub: body.user_id,
          pool: pool.pool_id,
          sid: created.session_id,
          max: body.file_size,
          vis: body.visibility,
          // The sweeper gives the reservation back at expiry + grace: the node finishes nothing later.
          dl: Math.ceil((created.expires_at + (settings.sessionGraceSeconds ?? DEFAULT_GRACE_SECONDS) * 1000) / 1000),
          ttlSeconds: settings.tokenTtlSeconds,
        },
        signingKeys.privateKey,
        signingKeys.kid,
      );
      metrics.sessions.inc({ outcome: 'created' });
      const res: SessionResponse = {
        session_id: created.session_id,
        upload_url: urls.upload_url,
        tus_url: urls.tus_url,
        token,
        pool_id: pool.pool_id,
        node_id: pool.node_id,
        expires_at: new Date(created.expires_at).toISOString(),
        max_size: body.file_size,
      };
      return c.json(res, 201);
    } catch (err) {
      metrics.sessions.inc({ outcome: isAppError(err) ? err.code : 'internal' });
      throw err;
    }
  });
  return app;
}
