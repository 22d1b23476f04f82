import type { FileHandle } from 'node:fs/promises';
import fs from 'node:fs/promises';
import path from 'node:path';
import { type Context, Hono } from 'hono';
import type { JWTVerifyGetKey } from 'jose';
import { errors, isAppError } from '../../shared/errors.js';
import { mimeForExt } from '../../shared/mime.js';
import { ORIGINAL_DIR, PRIVATE_DIR, resolveInPool, VARIANTS_DIR } from '../../shared/paths.js';
import { verifySignedUrl } from '../../shared/signed-url.js';
import { etagMatches, parseRange } from '../http-range.js';
import type { PoolRuntime, PoolSet } from '../pools.js';
import { isS3PoolRel } from '../s3-pool/keys.js';
import { presignWindow, type S3Pool } from '../s3-pool/pool.js';

const CHUNK = 64 * 1024;
const notFound = () => errors.notFound('not_found', 'no such file');
/** What the browser may do with an uploaded file shown as a document: nothing but be an image. */
export const UPLOAD_CSP = "default-src 'none'; img-src 'self'; sandbox";
const SERVED = [`${ORIGINAL_DIR}/`, `${VARIANTS_DIR}/`];
const SERVED_PRIVATE = SERVED.map((d) => `${PRIVATE_DIR}/${d}`);

/**
 * `GET /api/internal/signed-url-check`: nginx's `auth_request` for `/uploads/private/…` asks here
 * (headers `X-Fennec-Path: $uri`, `X-Fennec-Args: $args`) and serves the file itself on a 204.
 * The check is local (coordinator JWKS kept by the node), so a private download costs no round
 * trip to the coordinator; 403 for unsigned, tampered or expired URLs.
 */
export const SIGNED_URL_CHECK_PATH = '/api/internal/signed-url-check';

/**
 * Serves `{public_base_url path}/uploads/original/…` and `/uploads/variants/…` from the pool
 * directories — what nginx does in production, here so a node works on its own (dev, tests,
 * a single VPS). Never tmp/ or the marker; symlinks refused; files are immutable, so strong
 * ETags and a year of caching. An s3 pool's path answers with redirects to its bucket.
 */
export function staticRoutes(deps: { pools: PoolSet; getKey: JWTVerifyGetKey }): Hono {
  const app = new Hono();
  app.get(SIGNED_URL_CHECK_PATH, async (c) => {
    const pathname = c.req.header('x-fennec-path') ?? '';
    if (!pathname.includes(`/uploads/${PRIVATE_DIR}/`)) throw errors.forbidden('url_unsigned', 'not a private file path');
    await verifySignedUrl(pathname, new URLSearchParams(c.req.header('x-fennec-args') ?? ''), deps.getKey);
    return c.body(null, 204);
  });

  for (const pool of deps.pools.allS3()) {
    const prefix = `${new URL(pool.config.public_base_url).pathname.replace(/\/+$/, '')}/uploads/`;
    app.get(`${prefix}*`, (c) => redirectToBucket(c, pool, c.req.path.slice(prefix.length), deps.getKey));
  }

  const byBase = new Map<string, PoolRuntime[]>();
  for (const pool of deps.pools.all()) {
    const base = new URL(pool.config.public_base_url).pathname.replace(/\/+$/, '');
    byBase.set(base, [...(byBase.get(base) ?? []), pool]);
  }
  for (const [base, pools] of byBase) {
    const prefix = `${base}/uploads/`;
    app.get(`${prefix}*`, async (c) => {
      const rel = c.req.path.slice(prefix.length);
      let expiresAt: number | undefined;
      if (SERVED_PRIVATE.some((d) => rel.startsWith(d))) {
        const url = new URL(c.req.url);
        expiresAt = await verifySignedUrl(url.pathname, url.searchParams, deps.getKey);
      } else if (!SERVED.some((d) => rel.startsWith(d))) throw notFound();
      for (const pool of pools) {
        const handle = await openInPool(pool, rel);
        if (handle) return serveFile(c, handle, path.extname(rel).slice(1), expiresAt);
      }
      throw notFound();
    });
  }
  return app;
}

/**
 * An s3 pool's file: 302 to a presigned URL of its key. Private files pass the same signed-URL
 * check as on disk first, and their bucket URL expires with the signed one. The redirect of a
 * public file is cached briefly (its target changes every half presign period); a private one's
 * not at all. The bucket answers with the content type the file was put with. Whether the key
 * exists is the bucket's answer (404 there), not asked here: that would cost a request per view.
 */
async function redirectToBucket(c: Context, pool: S3Pool, rel: string, getKey: JWTVerifyGetKey): Promise<Response> {
  let expiresAt: number | undefined;
  if (SERVED_PRIVATE.some((d) => rel.startsWith(d))) {
    const url = new URL(c.req.url);
    expiresAt = await verifySignedUrl(url.pathname, url.searchParams, getKey);
  } else if (!SERVED.some((d) => rel.startsWith(d))) throw notFound();
  if (!isS3PoolRel(rel)) throw notFound();
  const w = presignWindow(pool.config.presign_seconds, Date.now(), expiresAt);
  const location = await pool.presign(rel, {
    method: c.req.method === 'HEAD' ? 'HEAD' : 'GET',
    signedAt: w.signedAt,
    expiresIn: w.expiresIn,
  });
  return new Response(null, {
    status: 302,
    headers: {
      location,
      'cache-control':
        expiresAt === undefined ? `public, max-age=${Math.max(0, Math.min(60, Math.floor(w.remaining / 2)))}` : 'private, no-store',
      'x-content-type-options': 'nosniff',
    },
  });
}

/** Opens a regular file inside the pool, or undefined; a path through a symlink counts as absent. */
async function openInPool(pool: PoolRuntime, rel: string) {
  let abs: string;
  try {
    abs = resolveInPool(pool.config.path, rel);
  } catch (err) {
    if (isAppError(err)) throw notFound();
    throw err;
  }
  try {
    const real = await fs.realpath(abs);
    if (real !== path.join(pool.realRoot, ...rel.split('/'))) return undefined;
    const fh = await fs.open(real, 'r');
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      return undefined;
    }
    return { fh, size: st.size, mtimeMs: st.mtimeMs };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw err;
  }
}

/** `expiresAt` (unix seconds) is set for a private file: cached by the browser only, and only until then. */
async function serveFile(
  c: Context,
  file: { fh: FileHandle; size: number; mtimeMs: number },
  ext: string,
  expiresAt?: number,
): Promise<Response> {
  const { fh, size, mtimeMs } = file;
  const etag = `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
  const cacheControl =
    expiresAt === undefined
      ? 'public, max-age=31536000, immutable'
      : `private, max-age=${Math.max(0, Math.min(expiresAt - Math.floor(Date.now() / 1000), 31536000))}`;
  const headers: Record<string, string> = {
    etag,
    'accept-ranges': 'bytes',
    'cache-control': cacheControl,
    'x-content-type-options': 'nosniff',
    'content-security-policy': UPLOAD_CSP,
    'content-type': mimeForExt(ext),
  };
  if (etagMatches(c.req.header('if-none-match'), etag)) {
    await fh.close();
    return new Response(null, { status: 304, headers });
  }
  const ifRange = c.req.header('if-range');
  const range = ifRange && ifRange !== etag ? undefined : parseRange(c.req.header('range'), size);
  if (range === 'unsatisfiable') {
    await fh.close();
    return new Response(null, { status: 416, headers: { ...headers, 'content-range': `bytes */${size}` } });
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  headers['content-length'] = String(end - start + 1);
  if (range) headers['content-range'] = `bytes ${start}-${end}/${size}`;
  const status = range ? 206 : 200;
  if (c.req.method === 'HEAD' || end < start) {
    await fh.close();
    return new Response(null, { status, headers });
  }
  return new Response(fileBody(fh, start, end), { status, headers });
}

/** Pull-based: a chunk is read only when the client takes the previous one (backpressure, no buffering). */
function fileBody(fh: FileHandle, start: number, end: number): ReadableStream<Uint8Array> {
  let pos = start;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await fh.close();
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const want = Math.min(CHUNK, end - pos + 1);
          const { bytesRead, buffer } = await fh.read(Buffer.allocUnsafe(want), 0, want, pos);
          if (bytesRead === 0) throw new Error('file shrank while being served');
          pos += bytesRead;
          controller.enqueue(buffer.subarray(0, bytesRead));
          if (pos > end) {
            await close();
            controller.close();
          }
        } catch (err) {
          await close().catch(() => undefined);
          controller.error(err);
        }
      },
      cancel: close,
    },
    { highWaterMark: 0 },
  );
}
