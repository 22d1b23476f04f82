import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { COORDINATOR_AUDIENCE } from '../shared/api.js';
import { AppError, errors } from '../shared/errors.js';
import { bearerToken, sha256Hex, verifyNodeRequest, type NodeRequestClaims } from '../shared/tokens.js';
import type { AppRow, AppsRepo } from './db/apps.js';
import type { NodesRepo } from './db/nodes.js';

/** Typed context variables the middlewares below set. */
export type CoordinatorEnv = {
  Variables: {
    app: AppRow;
    nodeClaims: NodeRequestClaims;
    nodeBody: unknown;
  };
};

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Admin routes: `Authorization: Bearer FENNEC_ADMIN_KEY`, compared in constant time. */
export function adminAuth(adminKey: string): MiddlewareHandler<CoordinatorEnv> {
  const expected = digest(adminKey);
  return async function adminAuthMiddleware(c, next) {
    const token = bearerToken(c.req.header('authorization'), 'invalid_admin_key');
    if (!timingSafeEqual(digest(token), expected))
      throw errors.unauthorized('invalid_admin_key', 'admin key is not valid');
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

/** Node callbacks are small JSON documents; anything bigger is not one. */
const MAX_NODE_BODY = 64 * 1024;

/**
 * Node-signed routes: reads the raw body once, verifies the node's token is for this audience,
 * this purpose and exactly these bytes, and sets `nodeClaims` and `nodeBody` (parsed JSON).
 */
export function nodeAuth(opts: { nodes: NodesRepo; purpose: string }): MiddlewareHandler<CoordinatorEnv> {
  return async function nodeAuthMiddleware(c, next) {
    const token = bearerToken(c.req.header('authorization'), 'missing_token');
    if (Number(c.req.header('content-length') ?? 0) > MAX_NODE_BODY) throw errors.tooLarge('callback body too large');
    const raw = new Uint8Array(await c.req.arrayBuffer());
    if (raw.byteLength > MAX_NODE_BODY) throw errors.tooLarge('callback body too large');
    const claims = await verifyNodeRequest(token, {
      audience: COORDINATOR_AUDIENCE,
      purpose: opts.purpose,
      sha256: sha256Hex(raw),
      resolveNodeKey: (nodeId) => opts.nodes.publicKey(nodeId),
    });
    let body: unknown;
    try {
      body = JSON.parse(Buffer.from(raw).toString('utf8'));
    } catch (err) {
      throw new AppError({ code: 'invalid_body', status: 400, message: 'body is not JSON', cause: err });
    }
    c.set('nodeClaims', claims);
    c.set('nodeBody', body);
    await next();
  };
}

const EMPTY_SHA256 = sha256Hex('');

/**
 * Node-signed GETs: the token binds the empty body and, in `bind.url`, the path and query it was
 * signed for, so a token for one page of one pool is good for nothing else. Sets `nodeClaims`.
 */
export function nodeAuthGet(opts: { nodes: NodesRepo; purpose: string }): MiddlewareHandler<CoordinatorEnv> {
  return async function nodeAuthGetMiddleware(c, next) {
    const token = bearerToken(c.req.header('authorization'), 'missing_token');
    const claims = await verifyNodeRequest(token, {
      audience: COORDINATOR_AUDIENCE,
      purpose: opts.purpose,
      sha256: EMPTY_SHA256,
      resolveNodeKey: (nodeId) => opts.nodes.publicKey(nodeId),
    });
    const url = new URL(c.req.url);
    if (claims.bind?.url !== `${url.pathname}${url.search}`)
      throw errors.unauthorized('invalid_token', 'token is bound to another URL');
    c.set('nodeClaims', claims);
    await next();
  };
}
