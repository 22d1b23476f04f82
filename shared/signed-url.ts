import { sign as cryptoSign, verify as cryptoVerify, KeyObject } from 'node:crypto';
import type { JWTVerifyGetKey } from 'jose';
import { AppError, errors } from './errors.js';

/**
 * Signed, expiring URLs for private files (README "Private files"; no shared secrets).
 * The coordinator signs `fennec-url/v1\n{pathname}\n{exp}` with its current Ed25519 upload-token
 * key and appends `?exp=…&kid=…&sig=…`; a node checks it against the coordinator's JWKS it
 * already keeps for upload tokens, so the check needs no round trip and no secret on the node.
 * The signature binds the exact path (one file) and the expiry; anything else in the query is
 * ignored.
 */
const PREFIX = 'fennec-url/v1';
const SIG = /^[A-Za-z0-9_-]{86}$/;
const KID = /^[A-Za-z0-9._-]{1,64}$/;

const message = (pathname: string, exp: number) => Buffer.from(`${PREFIX}\n${pathname}\n${exp}`);

export interface UrlSigningKey {
  key: KeyObject;
  kid: string;
}

/** Returns `url` with `exp`, `kid` and `sig` set; valid until `now + ttlSeconds` (unix seconds). */
export function signUrl(url: string, signing: UrlSigningKey, opts: { ttlSeconds: number; now?: number }): string {
  const u = new URL(url);
  const exp = Math.floor((opts.now ?? Date.now()) / 1000) + opts.ttlSeconds;
  const sig = cryptoSign(null, message(u.pathname, exp), signing.key).toString('base64url');
  u.searchParams.set('exp', String(exp));
  u.searchParams.set('kid', signing.kid);
  u.searchParams.set('sig', sig);
  return u.toString();
}

const denied = (code: string, message: string) => errors.forbidden(code, message);

/**
 * Checks a signed URL: `pathname` as the server resolved it and the query parameters. Resolves
 * to the expiry (unix seconds) or throws a 403 AppError (`url_unsigned`, `url_expired`,
 * `url_signature_invalid`); a 503 when the coordinator's keys cannot be had at all.
 */
export async function verifySignedUrl(
  pathname: string,
  query: URLSearchParams,
  getKey: JWTVerifyGetKey,
  now: number = Date.now(),
): Promise<number> {
  const expRaw = query.get('exp');
  const kid = query.get('kid');
  const sig = query.get('sig');
  if (!expRaw || !kid || !sig) throw denied('url_unsigned', 'this file needs a signed URL (exp, kid, sig)');
  if (!/^\d{1,12}$/.test(expRaw) || !KID.test(kid) || !SIG.test(sig)) throw denied('url_signature_invalid', 'malformed signed URL');
  const exp = Number(expRaw);
  if (exp * 1000 <= now) throw denied('url_expired', 'this signed URL has expired');
  let key: KeyObject;
  try {
    const found = await getKey({ alg: 'EdDSA', kid }, { payload: '', signature: sig });
    if (found instanceof KeyObject) key = found;
    else if (found instanceof Uint8Array || !('algorithm' in found && 'type' in found)) throw new Error('unexpected key type');
    else key = KeyObject.from(found);
  } catch (err) {
    if (err instanceof AppError && err.status === 503) throw err;
    throw denied('url_signature_invalid', 'signed by an unknown key');
  }
  if (key.asymmetricKeyType !== 'ed25519' || !cryptoVerify(null, message(pathname, exp), key, Buffer.from(sig, 'base64url')))
    throw denied('url_signature_invalid', 'the signature does not match this URL');
  return exp;
}
