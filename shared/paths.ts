import path from 'node:path';
import { errors } from './errors.js';

/**
 * The on-disk layout of a pool: tmp/ is inside the pool so a finished upload is one atomic rename
 * on the same filesystem. All relative paths use forward slashes.
 */
export const POOL_MARKER = '.fennec-pool.json';
export const TMP_DIR = 'tmp';
export const ORIGINAL_DIR = 'original';
export const VARIANTS_DIR = 'variants';
/** Private files: `private/original/…` and `private/variants/…`, served only with a signed URL. */
export const PRIVATE_DIR = 'private';

/** `YYYY/MM/DD` in UTC, so every node files an upload of the same instant under the same day. */
export function datePath(date: Date): string {
  const y = date.getUTCFullYear();
  const m = String(date.getUTCMonth() + 1).padStart(2, '0');
  const d = String(date.getUTCDate()).padStart(2, '0');
  return `${y}/${m}/${d}`;
}

export function originalRelPath(uuid: string, ext: string, date: Date, visibility: 'public' | 'private' = 'public'): string {
  const rel = `${ORIGINAL_DIR}/${datePath(date)}/${uuid}.${ext}`;
  return visibility === 'private' ? `${PRIVATE_DIR}/${rel}` : rel;
}

/** Whether a pool-relative path is a private file's (needs a signed URL to be served). */
export function isPrivateRelPath(rel: string): boolean {
  return rel.startsWith(`${PRIVATE_DIR}/`);
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Checks a pool-relative path and returns it absolute under `base`. Refuses anything that could
 * leave the pool: absolute paths, `..`, empty or dot segments, backslashes, NUL, percent signs
 * (a path arriving here is already decoded once; a second encoding is an attack) and any segment
 * outside a conservative character set. Symlinks are the caller's check (it needs the filesystem).
 */
export function resolveInPool(base: string, rel: string): string {
  if (rel.length === 0 || rel.length > 512) throw errors.badRequest('bad_path', 'path is empty or too long');
  if (rel.startsWith('/') || /[\\\0%]/.test(rel)) throw errors.badRequest('bad_path', 'path is not allowed');
  const segments = rel.split('/');
  if (!segments.every((s) => SEGMENT.test(s) && s !== '.' && s !== '..')) throw errors.badRequest('bad_path', 'path is not allowed');
  const abs = path.resolve(base, ...segments);
  const root = path.resolve(base);
  if (!abs.startsWith(root + path.sep)) throw errors.badRequest('bad_path', 'path leaves the pool');
  return abs;
}

/** `{public_base_url}/uploads/{rel}` without doubled slashes. */
export function publicUrl(publicBaseUrl: string, rel: string): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}/uploads/${rel}`;
}
