import type { IncomingHttpHeaders } from 'node:http';
import { sha256HexSchema } from '../../shared/api.js';
import { errors } from '../../shared/errors.js';
import {
  CONTENT_SHA256_HEADER,
  decodeMeta,
  OBJECT_META_HEADER,
  PURPOSE_REPLICATE,
  type ReplicaMeta,
  type ReplicateBind,
} from '../../shared/replication.js';
import { bearerToken, type SigningKey, sha256Hex, verifyNodeRequest } from '../../shared/tokens.js';
import { isOriginalArea, originalUuid, type ReplicaTarget } from './replica-path.js';

export interface ReplicaAuthDeps {
  nodeId: string;
  /** A registered node's identity key by node id (NodeKeys.resolveNodeKey); undefined = unknown node. */
  resolveNodeKey: (nodeId: string) => Promise<SigningKey | undefined> | SigningKey | undefined;
  clockSkewSeconds: number;
}

/** A PUT whose headers and token were checked: what the body must be and what it is for. */
export interface AuthorizedReplica {
  /** The sending node (the token's issuer). */
  from: string;
  /** The token's id and expiry (epoch seconds): each token is good for one PUT. */
  jti: string;
  exp: number;
  size: number;
  sha256: string;
  /** The record of an original; undefined for a variant file. */
  meta: ReplicaMeta | undefined;
}

/**
 * Checks a replicate PUT before a body byte is read: content-length and x-content-sha256
 * (400), a token signed by a registered node for this node and this purpose, bound to exactly
 * this pool, path, size, body hash and record (401), then the record itself (400).
 */
export async function authorizeReplica(
  deps: ReplicaAuthDeps,
  target: ReplicaTarget,
  headers: IncomingHttpHeaders,
): Promise<AuthorizedReplica> {
  const length = headers['content-length'];
  if (length === undefined || !/^\d{1,15}$/.test(length))
    throw errors.badRequest('length_required', 'a replicate PUT needs a Content-Length');
  const size = Number(length);
  const sha = sha256HexSchema.safeParse(headers[CONTENT_SHA256_HEADER]);
  if (!sha.success) throw errors.badRequest('bad_checksum', `${CONTENT_SHA256_HEADER} must be 64 lowercase hex characters`);
  const metaHeader = headers[OBJECT_META_HEADER];
  if (Array.isArray(metaHeader)) throw errors.badRequest('bad_meta', `one ${OBJECT_META_HEADER} header at most`);

  const claims = await verifyNodeRequest(bearerToken(headers.authorization), {
    audience: deps.nodeId,
    purpose: PURPOSE_REPLICATE,
    sha256: sha.data,
    resolveNodeKey: deps.resolveNodeKey,
    clockToleranceSeconds: deps.clockSkewSeconds,
  });
  const want: ReplicateBind = { pool: target.poolId, path: target.rel, size, meta: metaHeader ? sha256Hex(metaHeader) : '' };
  const bind = claims.bind ?? {};
  if (bind.pool !== want.pool || bind.path !== want.path || bind.size !== want.size || bind.meta !== want.meta)
    throw errors.unauthorized('invalid_token', 'token is bound to another pool, path, size or record');

  if (!isOriginalArea(target.rel)) {
    if (metaHeader !== undefined) throw errors.badRequest('bad_meta', 'only an original carries a record');
    return { from: claims.iss, jti: claims.jti, exp: claims.exp, size, sha256: sha.data, meta: undefined };
  }
  if (metaHeader === undefined) throw errors.badRequest('meta_required', `an original travels with its record (${OBJECT_META_HEADER})`);
  let meta: ReplicaMeta;
  try {
    meta = decodeMeta(metaHeader);
  } catch (err) {
    throw errors.badRequest('bad_meta', `${OBJECT_META_HEADER} is not a valid record`, err);
  }
  if (originalUuid(target.rel) !== meta.image_uuid)
    throw errors.badRequest(
      'bad_path',
      `an original of ${meta.image_uuid} belongs at [private/]original/YYYY/MM/DD/${meta.image_uuid}.{ext}`,
    );
  return { from: claims.iss, jti: claims.jti, exp: claims.exp, size, sha256: sha.data, meta };
}
