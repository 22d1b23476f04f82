import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import { errors } from '../shared/errors.js';

/**
 * The coordinator's public keys. A static file (FENNEC_JWKS_FILE) wins; otherwise the remote
 * JWKS, which jose caches and refetches when a token names an unknown kid (key rotation).
 */
export function createKeySource(opts: { jwksFile?: string; jwksUrl: string }): JWTVerifyGetKey {
  if (opts.jwksFile) {
    const jwks = JSON.parse(readFileSync(opts.jwksFile, 'utf8')) as JSONWebKeySet;
    if (!Array.isArray(jwks.keys)) throw new Error(`${opts.jwksFile}: not a JWKS ({"keys": [...]})`);
    return createLocalJWKSet(jwks);
  }
  const remote = createRemoteJWKSet(new URL(opts.jwksUrl), {
    timeoutDuration: 5000,
    // A flood of tokens with made-up kids must not become a flood of fetches to the coordinator.
    cooldownDuration: 30_000,
    cacheMaxAge: 10 * 60_000,
  });
  return async function getCoordinatorKey(header, token) {
    try {
      return await remote(header, token);
    } catch (err) {
      if (isFetchFailure(err)) throw errors.unavailable('jwks_unavailable', 'cannot fetch the coordinator keys', err);
      throw err;
    }
  };
}

/**
 * The coordinator being unreachable is our outage (503, retry), not the client's bad token
 * (401): network errors, timeouts, non-200 answers and unparsable key sets.
 */
function isFetchFailure(err: unknown): boolean {
  if (!(err instanceof joseErrors.JOSEError)) return true;
  return (
    err instanceof joseErrors.JWKSTimeout ||
    err instanceof joseErrors.JWKSInvalid ||
    err.constructor === joseErrors.JOSEError
  );
}
