import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { COORDINATOR_AUDIENCE } from '../shared/api.js';
import { errors } from '../shared/errors.js';
import { bearerToken, type NodeRequestClaims, verifyNodeRequest } from '../shared/tokens.js';
import type { AppRow, AppsRepo } from './db/apps.js';
import type { NodesRepo } from './db/nodes.js';

/** Typed context variables the middlewares below set. */
export type CoordinatorEnv = {
  Variables: {
    app: AppRow;
  };
};

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Admin routes: `Authorization: Bearer FENNEC_ADMIN_KEY`, compared in constant time. */
export function adminAuth(adminKey: string): MiddlewareHandler<CoordinatorEnv> {
  const expected = digest(adminKey);
  return async function adminAuthMiddleware(c, next) {
    const token = bearerToken(c.req.header('authorization'), 'invalid_admin_key');
    if (!timingSafeEqual(digest(token), expected)) throw errors.unauthorized('invalid_admin_key', 'admin key is not valid');
    await next();
  };
}

/** App routes: `Authorization: Bearer <api_key>`; sets `app`. */
export function appAuth(apps: AppsRepo): MiddlewareHandler<CoordinatorEnv> {
  return async function appAuthMiddleware(c, next) {
    const key = bearerToken(c.req.header('authorization'), 'invalid_api_key');
    const app = apps.byApiKey(key);
    if (!app) throw errors.unauthorized('invalid_api_key', 'API key is not valid');
    c.set('app', app);
    await next();
  };
}

/**
 * A node-signed request's token: the issuer must be a registered node whose key signed it, for
 * the coordinator, for this purpose and for exactly the body with this SHA-256. The report and
 * query helpers (node-reports.ts) are its callers.
 */
export function verifyNodeToken(nodes: NodesRepo, token: string, purpose: string, sha256: string): Promise<NodeRequestClaims> {
  return verifyNodeRequest(token, {
    audience: COORDINATOR_AUDIENCE,
    purpose,
    sha256,
    resolveNodeKey: (nodeId) => nodes.publicKey(nodeId),
  });
}
