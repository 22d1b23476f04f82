import type { JWTVerifyGetKey } from 'jose';
import { errors } from '../../shared/errors.js';
import { bearerToken, type UploadTokenClaims, verifyUploadToken } from '../../shared/tokens.js';
import type { NodeStore } from '../db/store.js';
import type { PoolRuntime, PoolSet } from '../pools.js';

export interface TokenCheckDeps {
  nodeId: string;
  getKey: JWTVerifyGetKey;
  tokenIssuer: string;
  clockSkewSeconds: number;
  pools: PoolSet;
}

export interface AuthorizedUpload {
  claims: UploadTokenClaims;
  pool: PoolRuntime;
}

/**
 * Everything about the token that needs no state: EdDSA signature by a coordinator key,
 * exp/nbf, aud = this node, issuer, and a pool this node has. Runs before a body byte is read.
 */
export async function checkUploadToken(deps: TokenCheckDeps, authorization: string | undefined): Promise<AuthorizedUpload> {
  const token = bearerToken(authorization);
  const claims = await verifyUploadToken(token, deps.getKey, {
    nodeId: deps.nodeId,
    issuer: deps.tokenIssuer,
    clockToleranceSeconds: deps.clockSkewSeconds,
  });
  const pool = deps.pools.get(claims.pool);
  if (!pool) throw errors.unauthorized('wrong_pool', `pool ${claims.pool} is not on node ${deps.nodeId}`);
  return { claims, pool };
}

/**
 * Claims the token's jti for this upload (401 `token_used` if taken). The returned function
 * gives it back; the route calls it when the upload fails so the client may retry with the
 * same, still valid token.
 */
export function claimToken(store: NodeStore, claims: UploadTokenClaims): () => void {
  if (!store.claimToken(claims.jti, claims.exp)) throw errors.unauthorized('token_used', 'token was already used');
  let released = false;
  return () => {
    if (released) return;
    released = true;
    store.releaseToken(claims.jti);
  };
}
