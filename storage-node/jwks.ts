import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';

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
  return createRemoteJWKSet(new URL(opts.jwksUrl), {
    timeoutDuration: 5000,
    // A flood of tokens with made-up kids must not become a flood of fetches to the coordinator.
    cooldownDuration: 30_000,
    cacheMaxAge: 10 * 60_000,
  });
}
