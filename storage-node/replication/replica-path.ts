import fs from 'node:fs/promises';
import path from 'node:path';
import { errors } from '../../shared/errors.js';
import { mimeForExt } from '../../shared/mime.js';
import { resolveInPool } from '../../shared/paths.js';
import { REPLICATE_ROUTE_PREFIX } from '../../shared/replication.js';
import type { PoolRuntime } from '../pools.js';

/** A replicate PUT's target as its raw request line spells it, checked for spelling only. */
export interface ReplicaTarget {
  poolId: string;
  /** Pool-relative, forward slashes. */
  rel: string;
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** A thumbnail's name as the recipe allows it (variants/recipe.ts `thumbnails[].name`), after `_`. */
const SIZE_SUFFIX = '(?:_[a-z][a-z0-9]*)?';

/**
 * The files a peer may write (the pool layout in shared/paths.ts), never tmp/, the pool marker or anything else:
 * `[private/]original/YYYY/MM/DD/{uuid}.{ext}` and `[private/]variants/YYYY/MM/DD/{uuid}[_{size}].{ext}`
 * with `ext` a known image type (mimeForExt). A name of the peer's choosing (`evil.html`) would
 * be served from our origin.
 */
const POOL_FILE = new RegExp(`^(?:private/)?(original|variants)/\\d{4}/\\d{2}/\\d{2}/(${UUID})(${SIZE_SUFFIX})\\.([a-z0-9]+)$`);
const OCTET_STREAM = mimeForExt('');
const POOL_ID = /^[a-z0-9][a-z0-9-]*$/;

const badPath = (message: string) => errors.badRequest('bad_path', message);

/**
 * Pool id and path from the RAW request target. URL parsing (hono's, node-server's) resolves
 * `..` and decodes `%2e%2e` before a route could refuse it, so this reads `incoming.url`. Any
 * `%` is refused outright: a pool path never needs an escape, so every encoded spelling (%2e,
 * %2f, %5c, %00) is an attack. Also refused: query strings, backslashes, NUL, empty and dot
 * segments, absolute paths (resolveInPool), and anything outside the replicated areas.
 */
export function parseReplicaTarget(rawUrl: string): ReplicaTarget {
  if (!rawUrl.startsWith(REPLICATE_ROUTE_PREFIX)) throw badPath('not a replicate path');
  const rest = rawUrl.slice(REPLICATE_ROUTE_PREFIX.length);
  if (/[%?#\\\0]/.test(rest)) throw badPath('encoded characters, queries, backslashes and NUL are not allowed');
  const slash = rest.indexOf('/');
  if (slash <= 0) throw badPath(`expected ${REPLICATE_ROUTE_PREFIX}{pool_id}/{path}`);
  const poolId = rest.slice(0, slash);
  const rel = rest.slice(slash + 1);
  if (!POOL_ID.test(poolId)) throw badPath('not a pool id');
  resolveInPool('/pool', rel); // spelling only; the real root comes with the pool
  const file = POOL_FILE.exec(rel);
  if (!file || (file[1] === 'original' && file[3] !== '') || mimeForExt(file[4]!) === OCTET_STREAM)
    throw badPath('only original/…/YYYY/MM/DD/{uuid}.{ext} and variants/…/YYYY/MM/DD/{uuid}[_{size}].{ext} image files are replicated');
  return { poolId, rel };
}

/** The uuid an original's path names, or undefined for any other file (a variant). */
export function originalUuid(rel: string): string | undefined {
  const file = POOL_FILE.exec(rel);
  return file?.[1] === 'original' && file[3] === '' ? file[2] : undefined;
}

/** Whether the path is in an original area (it must then carry its record). */
export function isOriginalArea(rel: string): boolean {
  return POOL_FILE.exec(rel)?.[1] === 'original';
}

/**
 * The absolute final path under the pool's real root, refusing a symlink (or anything but a
 * directory, then a regular file) on any existing component below the root: a link planted in
 * the pool must not carry a write outside it. What does not exist yet is created by us with
 * mkdir, so it cannot be a link.
 */
export async function resolveReplicaFile(pool: PoolRuntime, rel: string): Promise<string> {
  const abs = resolveInPool(pool.realRoot, rel);
  const segments = rel.split('/');
  let at = pool.realRoot;
  for (const [i, segment] of segments.entries()) {
    at = path.join(at, segment);
    let st;
    try {
      st = await fs.lstat(at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return abs;
      throw err;
    }
    if (st.isSymbolicLink()) throw badPath('the path goes through a symlink');
    const last = i === segments.length - 1;
    if (last ? !st.isFile() : !st.isDirectory()) throw badPath('the path is not a pool file');
  }
  return abs;
}
