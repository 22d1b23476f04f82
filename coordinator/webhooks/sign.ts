import type { KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { sha256Hex } from '../../shared/tokens.js';

export const WEBHOOK_TYP = 'fennec-webhook+jwt';
/** The header carrying the signature; the app verifies it with the coordinator's JWKS. */
export const WEBHOOK_SIGNATURE_HEADER = 'fennec-signature';

/**
 * A webhook's signature: an EdDSA JWT (kid of a key in /.well-known/jwks.json) bound to the
 * exact body bytes by `sha256`, to the app by `aud`, to the event by `sub` and `jti`. The app
 * checks the signature with the JWKS, `aud` = its app id, and sha256(body) = the claim.
 */
export async function signWebhook(
  opts: { issuer: string; appId: string; event: string; eventId: string; body: string; ttlSeconds?: number },
  key: { kid: string; privateKey: KeyObject },
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sha256: sha256Hex(opts.body) })
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: WEBHOOK_TYP })
    .setIssuer(opts.issuer)
    .setAudience(opts.appId)
    .setSubject(opts.event)
    .setJti(opts.eventId)
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.ttlSeconds ?? 300))
    .sign(key.privateKey);
}
