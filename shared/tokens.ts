import { createHash, sign as cryptoSign, KeyObject as NodeKeyObject, randomUUID } from 'node:crypto';
import {
  type CryptoKey,
  decodeJwt,
  decodeProtectedHeader,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
  type KeyObject,
  SignJWT,
} from 'jose';
import { AppError, errors } from './errors.js';

/** Keys as jose takes them: Node KeyObjects (what we load from files) or WebCrypto keys. */
export type SigningKey = KeyObject | CryptoKey;

/** Upload token claims (EdDSA only, `aud` = one node, each `jti` once). Signed by the coordinator, checked by nodes. */
export interface UploadTokenClaims {
  iss: string;
  /** The node id the upload must go to. */
  aud: string;
  /** The user id the upload is charged to. */
  sub: string;
  /** The pool id on that node. */
  pool: string;
  /** The session id; each jti is accepted once. */
  jti: string;
  sid: string;
  /** Maximum bytes this upload may carry. */
  max: number;
  /** `private`: the file goes under `{pool}/private/` and is served only with a signed URL. Absent = public. */
  vis?: Visibility;
  /**
   * The session's hard deadline (epoch seconds: its expiry plus the coordinator's grace). A node
   * refuses to finish an upload after it (410 `upload_expired`, bytes removed), however long ago
   * the body started, and a tus upload expires at it: past it the coordinator has given the
   * reservation back. Absent in tokens from an older coordinator: no deadline.
   */
  dl?: number;
  iat: number;
  nbf: number;
  exp: number;
}

export const VISIBILITIES = ['public', 'private'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

export const UPLOAD_TOKEN_TYP = 'fennec-upload+jwt';
export const NODE_REQUEST_TYP = 'fennec-node+jwt';

const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * Signs an upload token. This is the coordinator's hot path (one per session): with a Node
 * KeyObject it signs with the one-shot `crypto.sign`, about 2.5× faster than jose's WebCrypto
 * route (~37,000 vs ~14,000 per core); the compact JWS is the same and jose verifies it.
 */
export async function signUploadToken(
  claims: Omit<UploadTokenClaims, 'iat' | 'nbf' | 'exp' | 'jti' | 'vis' | 'dl'> & { ttlSeconds: number; vis?: Visibility; dl?: number },
  key: SigningKey,
  kid: string,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const { ttlSeconds, ...rest } = claims;
  const payload: UploadTokenClaims = {
    iss: rest.iss,
    aud: rest.aud,
    sub: rest.sub,
    pool: rest.pool,
    sid: rest.sid,
    jti: rest.sid,
    max: rest.max,
    // Public tokens stay as they were: the claim is only present when it changes something.
    ...(rest.vis === 'private' ? { vis: 'private' as const } : {}),
    ...(rest.dl !== undefined ? { dl: rest.dl } : {}),
    iat: now,
    nbf: now - 1,
    exp: now + ttlSeconds,
  };
  const header = { alg: 'EdDSA', kid, typ: UPLOAD_TOKEN_TYP };
  if (key instanceof NodeKeyObject) {
    const input = `${b64json(header)}.${b64json(payload)}`;
    return `${input}.${cryptoSign(null, Buffer.from(input), key).toString('base64url')}`;
  }
  return new SignJWT({ ...payload }).setProtectedHeader(header).sign(key);
}

/** Maps jose's failures to our 401 codes; anything unexpected stays a 401 `invalid_token`. */
function tokenError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof joseErrors.JWTExpired) return errors.unauthorized('token_expired', 'token has expired', err);
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return errors.unauthorized('wrong_node', 'token is for another node', err);
    if (err.claim === 'nbf') return errors.unauthorized('token_not_yet_valid', 'token is not valid yet', err);
    return errors.unauthorized('invalid_token', `token claim ${err.claim} is invalid: ${err.reason}`, err);
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed)
    return errors.unauthorized('invalid_token', 'token algorithm not allowed (EdDSA only)', err);
  if (err instanceof joseErrors.JWKSNoMatchingKey) return errors.unauthorized('invalid_token', 'token signed by an unknown key', err);
  if (err instanceof joseErrors.JWSSignatureVerificationFailed)
    return errors.unauthorized('invalid_token', 'token signature is invalid', err);
  if (err instanceof joseErrors.JWKSTimeout) return errors.unavailable('jwks_unavailable', 'cannot fetch the coordinator keys', err);
  return errors.unauthorized('invalid_token', 'token is malformed', err);
}

const isPositiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/**
 * Verifies an upload token for this node: EdDSA only, signature, exp/nbf with a small skew,
 * aud = this node. Pool membership and single use are the node's checks (they need its state).
 */
export async function verifyUploadToken(
  token: string,
  getKey: JWTVerifyGetKey,
  opts: { nodeId: string; issuer?: string; clockToleranceSeconds: number },
): Promise<UploadTokenClaims> {
  try {
    const { payload } = await jwtVerify(token, getKey, {
      algorithms: ['EdDSA'],
      audience: opts.nodeId,
      issuer: opts.issuer,
      typ: UPLOAD_TOKEN_TYP,
      clockTolerance: opts.clockToleranceSeconds,
      requiredClaims: ['exp', 'nbf', 'iat', 'jti', 'sub', 'aud', 'iss'],
    });
    const { pool, sid, max, vis, dl } = payload as Record<string, unknown>;
    if (typeof pool !== 'string' || typeof sid !== 'string' || !isPositiveInt(max))
      throw errors.unauthorized('invalid_token', 'token lacks pool, sid or max');
    if (vis !== undefined && !VISIBILITIES.includes(vis as Visibility))
      throw errors.unauthorized('invalid_token', 'token vis must be public or private');
    if (dl !== undefined && !isPositiveInt(dl)) throw errors.unauthorized('invalid_token', 'token dl must be epoch seconds');
    return payload as unknown as UploadTokenClaims;
  } catch (err) {
    throw tokenError(err);
  }
}

/** Claims of a request a node signs with its own identity key (callbacks, replication). */
export interface NodeRequestClaims {
  iss: string;
  aud: string;
  /** What the request does, e.g. `upload.complete`; a token for one purpose is useless for another. */
  sub: string;
  /** SHA-256 (hex) of the request body or the object it carries: the token is bound to it. */
  sha256: string;
  /** Further bindings, e.g. path and size for a replication PUT. */
  bind?: Record<string, string | number>;
  jti: string;
  iat: number;
  exp: number;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function signNodeRequest(
  opts: {
    nodeId: string;
    audience: string;
    purpose: string;
    sha256: string;
    bind?: Record<string, string | number>;
    ttlSeconds?: number;
  },
  key: SigningKey,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ sha256: opts.sha256, ...(opts.bind ? { bind: opts.bind } : {}) })
    .setProtectedHeader({ alg: 'EdDSA', kid: opts.nodeId, typ: NODE_REQUEST_TYP })
    .setIssuer(opts.nodeId)
    .setAudience(opts.audience)
    .setSubject(opts.purpose)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.ttlSeconds ?? 120));
  return jwt.sign(key);
}

/**
 * Verifies a node-signed request: the issuer's key is looked up among registered node keys,
 * and the token must be for this audience, this purpose and exactly this body hash.
 */
export async function verifyNodeRequest(
  token: string,
  opts: {
    audience: string;
    purpose: string;
    sha256: string;
    resolveNodeKey: (nodeId: string) => Promise<SigningKey | undefined> | SigningKey | undefined;
    clockToleranceSeconds?: number;
  },
): Promise<NodeRequestClaims> {
  try {
    const header = decodeProtectedHeader(token);
    if (header.alg !== 'EdDSA') throw errors.unauthorized('invalid_token', 'EdDSA only');
    const unverified = decodeJwt(token);
    if (typeof unverified.iss !== 'string') throw errors.unauthorized('invalid_token', 'no issuer');
    const key = await opts.resolveNodeKey(unverified.iss);
    if (!key) throw errors.unauthorized('unknown_node', `node ${unverified.iss} is not registered`);
    const { payload } = await jwtVerify(token, key, {
      algorithms: ['EdDSA'],
      audience: opts.audience,
      issuer: unverified.iss,
      subject: opts.purpose,
      typ: NODE_REQUEST_TYP,
      clockTolerance: opts.clockToleranceSeconds ?? 30,
      requiredClaims: ['exp', 'iat', 'jti'],
    });
    if (payload.sha256 !== opts.sha256) throw errors.unauthorized('invalid_token', 'token is bound to another body');
    return payload as unknown as NodeRequestClaims;
  } catch (err) {
    throw tokenError(err);
  }
}

/** `Authorization: Bearer x` → x, or a 401. */
export function bearerToken(header: string | undefined | null, code = 'missing_token'): string {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) throw errors.unauthorized(code, 'Authorization: Bearer <token> is required');
  return m[1]!;
}
