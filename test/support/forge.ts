import { createPrivateKey, createSecretKey, type KeyObject, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { base64url, SignJWT } from 'jose';
import { UPLOAD_TOKEN_TYP } from '../../shared/tokens.js';

/** The coordinator's current signing key, read from its data dir: tests forge tokens with it. */
export function coordinatorKey(dataDir: string): { key: KeyObject; kid: string } {
  const dir = path.join(dataDir, 'coordinator', 'signing-keys');
  const file = readdirSync(dir)
    .filter((f) => f.endsWith('.pem'))
    .sort()
    .at(-1)!;
  return { key: createPrivateKey(readFileSync(path.join(dir, file))), kid: file.replace(/\.pem$/, '') };
}

export interface ForgeClaims {
  aud: string;
  sub?: string;
  pool: string;
  max: number;
  sid?: string;
  iat?: number;
  nbf?: number;
  exp?: number;
  iss?: string;
}

export async function signToken(signer: { key: KeyObject; kid: string }, c: ForgeClaims): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const sid = c.sid ?? randomUUID();
  return new SignJWT({ pool: c.pool, sid, max: c.max })
    .setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: UPLOAD_TOKEN_TYP })
    .setIssuer(c.iss ?? 'fennec-coordinator')
    .setAudience(c.aud)
    .setSubject(c.sub ?? 'mallory')
    .setJti(sid)
    .setIssuedAt(c.iat ?? now)
    .setNotBefore(c.nbf ?? now - 1)
    .setExpirationTime(c.exp ?? now + 600)
    .sign(signer.key);
}

/** `alg: none`: an unsigned token with the right claims. */
export function unsignedToken(c: ForgeClaims): string {
  const now = Math.floor(Date.now() / 1000);
  const enc = (o: unknown) => base64url.encode(JSON.stringify(o));
  const sid = randomUUID();
  return `${enc({ alg: 'none', typ: UPLOAD_TOKEN_TYP })}.${enc({ iss: 'fennec-coordinator', aud: c.aud, sub: 'mallory', pool: c.pool, sid, jti: sid, max: c.max, iat: now, nbf: now - 1, exp: now + 600 })}.`;
}

/** The classic confusion attack: HS256 keyed with the bytes of the public key from the JWKS. */
export async function hs256WithPublicKey(publicJwk: { x: string }, kid: string, c: ForgeClaims): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const sid = randomUUID();
  const secrets = [base64url.decode(publicJwk.x), Buffer.from(JSON.stringify(publicJwk))];
  return new SignJWT({ pool: c.pool, sid, max: c.max })
    .setProtectedHeader({ alg: 'HS256', kid, typ: UPLOAD_TOKEN_TYP })
    .setIssuer('fennec-coordinator')
    .setAudience(c.aud)
    .setSubject('mallory')
    .setJti(sid)
    .setIssuedAt(now)
    .setNotBefore(now - 1)
    .setExpirationTime(now + 600)
    .sign(createSecretKey(Buffer.from(secrets[0]!)));
}
