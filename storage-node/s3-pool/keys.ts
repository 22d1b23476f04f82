import { ORIGINAL_DIR, PRIVATE_DIR, VARIANTS_DIR } from '../../shared/paths.js';

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const SERVED = [ORIGINAL_DIR, VARIANTS_DIR].flatMap((d) => [`${d}/`, `${PRIVATE_DIR}/${d}/`]);

/** A pool-relative path an s3 pool holds: an original or a variant, public or private; nothing else. */
export function isS3PoolRel(rel: string): boolean {
  if (rel.length === 0 || rel.length > 512 || !SERVED.some((d) => rel.startsWith(d))) return false;
  return rel.split('/').every((s) => SEGMENT.test(s) && s !== '.' && s !== '..');
}

/**
 * The bucket key of a pool-relative path: `{prefix}/{rel}` (e.g. `cold/original/2026/12/01/u.jpg`,
 * `cold/private/variants/…`). The relative path is kept whole, unlike a backup key, so every
 * file of an object (original and variants) maps the same way and nothing collides. Throws on
 * a path the pool never holds: a URL path must not reach an arbitrary key of the bucket.
 */
export function s3PoolKey(prefix: string, rel: string): string {
  if (!isS3PoolRel(rel)) throw new Error(`not an s3 pool path: ${rel}`);
  const p = prefix.replace(/^\/+|\/+$/g, '');
  return p ? `${p}/${rel}` : rel;
}
