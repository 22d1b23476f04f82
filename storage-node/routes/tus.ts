import fs from 'node:fs/promises';
import type { HttpBindings } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { clientAddress } from '../../shared/client-address.js';
import { AppError, errors, isAppError } from '../../shared/errors.js';
import { uploadCors } from '../cors.js';
import type { TusUploadRow } from '../db/tus.js';
import { CHECKSUM_ALGORITHMS } from '../tus/checksum.js';
import { finishIfComplete } from '../tus/complete.js';
import { forwardToTus } from '../tus/forward.js';
import { TUS_PATH, TusService } from '../tus/service.js';
import { checkUploadToken, claimToken } from '../upload/auth.js';
import { lingerThenClose } from '../upload/linger.js';
import type { UploadDeps } from './upload.js';

export interface TusDeps extends UploadDeps {
  tus: TusService;
}

type Env = { Bindings: HttpBindings };
type Ctx = Context<Env>;

const checksumMismatch = () =>
  new AppError({ code: 'checksum_mismatch', status: 460, message: 'Upload-Checksum does not match the chunk; it was discarded' });

/**
 * tus 1.0 at the session's `tus_url`: creation, creation-with-upload, termination, expiration
 * (by @tus/server and @tus/file-store) and checksum (here: @tus/server has no checksum
 * extension). This file decides who may touch which upload; tus/service.ts owns the bytes.
 */
export function tusRoutes(deps: TusDeps): Hono<Env> {
  const app = new Hono<Env>();
  const { tus } = deps;

  // Browsers upload from other origins: preflights are answered here, other answers get the headers.
  app.use(TUS_PATH, uploadCors());
  app.use(`${TUS_PATH}/*`, uploadCors());
  // Our own error answers (401, 409, 413…) carry the protocol version too.
  app.use(`${TUS_PATH}/*`, async (c, next) => {
    c.header('Tus-Resumable', '1.0.0');
    await next();
  });

  app.options(TUS_PATH, (c) => options(deps, c));
  app.options(`${TUS_PATH}/:id`, (c) => options(deps, c));

  app.post(TUS_PATH, (c) => bodyRequest(deps, c, () => create(deps, c)));

  // hono answers HEAD with the GET route (without the body).
  app.get(`${TUS_PATH}/:id`, async (c) => {
    if (c.req.method !== 'HEAD') throw errors.notFound('not_found', 'tus uploads are not downloadable');
    const row = await authorize(deps, c);
    const res = await tus.handle(row.pool_id, forwardToTus(c.req.raw).req);
    // All bytes there but never finished (the node stopped between the last byte and the
    // finish step): finish now, or the client would see a complete upload with no image.
    if (res.status !== 200 || Number(res.headers.get('upload-offset')) !== row.size) return res;
    const unlock = tus.tryLock(row.id);
    if (!unlock) return res;
    try {
      return await finishIfComplete(deps, row, res);
    } finally {
      unlock();
    }
  });

  app.patch(`${TUS_PATH}/:id`, (c) => bodyRequest(deps, c, () => patch(deps, c)));

  app.delete(`${TUS_PATH}/:id`, async (c) => {
    const row = await authorize(deps, c);
    const unlock = tus.tryLock(row.id);
    if (!unlock) throw errors.conflict('upload_busy', 'another request is writing this upload');
    try {
      const res = await tus.handle(row.pool_id, forwardToTus(c.req.raw).req);
      if (res.status === 204) await tus.remove(row);
      return res;
    } finally {
      unlock();
    }
  });
  return app;
}

async function options(deps: TusDeps, c: Ctx): Promise<Response> {
  const pool = deps.pools.all()[0]!;
  const res = await deps.tus.handle(pool.config.id, forwardToTus(c.req.raw).req);
  res.headers.set('Tus-Extension', `${res.headers.get('Tus-Extension')},checksum`);
  res.headers.set('Tus-Checksum-Algorithm', CHECKSUM_ALGORITHMS.join(','));
  return res;
}

/** POST: the session token creates its one upload (its jti), of at most `max` bytes. */
async function create(deps: TusDeps, c: Ctx): Promise<Response> {
  const { tus } = deps;
  await deps.rateLimit(clientAddress(c.env.incoming));
  const { claims, pool } = await checkUploadToken(deps, c.req.header('authorization'));
  const length = Number(c.req.header('upload-length') ?? Number.NaN);
  if (!Number.isSafeInteger(length) || length < 0)
    throw errors.badRequest('invalid_upload_length', 'Upload-Length is required (deferred length is not supported)');
  if (length > claims.max) throw errors.tooLarge(`Upload-Length ${length} exceeds the ${claims.max} bytes this token allows`);
  if (length === 0) throw errors.unsupportedType('empty upload');
  const { free_bytes } = await deps.pools.capacity(pool, deps.store.usedBytes(pool.config.id));
  if (free_bytes < length) throw errors.insufficientStorage(`pool ${pool.config.id} has ${free_bytes} bytes free`);

  const releaseToken = claimToken(deps.store, claims);
  const now = Date.now();
  const row: TusUploadRow = {
    id: tus.newId(),
    pool_id: pool.config.id,
    jti: claims.jti,
    session_id: claims.sid,
    user_id: claims.sub,
    visibility: claims.vis ?? 'public',
    size: length,
    created_at: now,
    // Never past the session's deadline: the coordinator has released the reservation by then.
    expires_at: Math.min(now + tus.expirationMs, claims.dl === undefined ? Infinity : claims.dl * 1000),
  };
  tus.registry.insert(row);
  const unlock = tus.tryLock(row.id)!;
  let ok = false;
  try {
    const withBody = c.req.header('content-type') === 'application/offset+octet-stream';
    const fwd = forwardToTus(c.req.raw, withBody ? c.env.incoming : undefined, tus.takeHash(row.id, 0));
    const res = await tus.handle(row.pool_id, fwd.req, row.id);
    if (res.status !== 201) return res;
    if (fwd.checksum?.mismatched) throw checksumMismatch();
    tus.keepHashIfExact(row.id, 0, res, fwd);
    const done = await finishIfComplete(deps, row, res);
    ok = true;
    return done;
  } finally {
    if (!ok) {
      await tus.remove(row);
      releaseToken();
    }
    unlock();
  }
}

/** PATCH: one writer at a time; a chunk failing its checksum is cut off again. */
async function patch(deps: TusDeps, c: Ctx): Promise<Response> {
  const { tus } = deps;
  const row = await authorize(deps, c);
  if (c.req.header('content-type') !== 'application/offset+octet-stream')
    throw errors.unsupportedType('a tus PATCH body must be application/offset+octet-stream');
  const unlock = tus.tryLock(row.id);
  if (!unlock) throw errors.conflict('upload_busy', 'another PATCH is writing this upload');
  try {
    const file = tus.filePath(row);
    const before = (await fs.stat(file).catch(() => undefined))?.size;
    const running = before === undefined ? undefined : tus.takeHash(row.id, before);
    const fwd = forwardToTus(c.req.raw, c.env.incoming, running);
    const { checksum } = fwd;
    const res = await tus.handle(row.pool_id, fwd.req);
    // A failed checksummed chunk, or a body refused for running past Upload-Length, leaves
    // nothing: the upload is back at the offset it had before this request.
    const discard = (checksum && (checksum.mismatched || res.status !== 204)) || res.status === 413;
    if (discard && before !== undefined) await fs.truncate(file, before).catch(() => undefined);
    if (checksum?.mismatched) throw checksumMismatch();
    if (res.status !== 204) return res;
    if (before !== undefined) tus.keepHashIfExact(row.id, before, res, fwd);
    return await finishIfComplete(deps, row, res);
  } finally {
    unlock();
  }
}

/**
 * HEAD/PATCH/DELETE of an upload need the token that created it: a valid coordinator
 * signature for this node, and the upload's jti. Its `exp` is not enforced again here (a
 * long upload outlives a minutes-long token); the upload's own expiration bounds it.
 */
async function authorize(deps: TusDeps, c: Ctx): Promise<TusUploadRow> {
  const tolerance = Math.max(deps.clockSkewSeconds, Math.ceil(deps.tus.expirationMs / 1000));
  const { claims } = await checkUploadToken({ ...deps, clockSkewSeconds: tolerance }, c.req.header('authorization'));
  const id = c.req.param('id') ?? '';
  const row = TusService.isId(id) ? deps.tus.registry.get(id) : undefined;
  if (!row) throw errors.notFound('upload_not_found', 'no such upload (finished, terminated or expired)');
  if (row.jti !== claims.jti || row.pool_id !== claims.pool)
    throw errors.forbidden('wrong_upload', 'this token did not create this upload');
  // Between its expiry and the next sweep an upload still has a row: it takes no more bytes.
  if (row.expires_at < Date.now()) throw errors.gone('upload_expired', 'this upload expired (the session deadline passed)');
  return row;
}

/**
 * A request carrying upload bytes: counted as in flight (shutdown waits for it, the heartbeat
 * reports it), and an early answer that leaves body bytes unread closes the connection instead
 * of draining a large body.
 */
async function bodyRequest(deps: TusDeps, c: Ctx, fn: () => Promise<Response>): Promise<Response> {
  const incoming = c.env.incoming;
  const upload = deps.tracker.begin();
  try {
    const res = await fn();
    if (res.status >= 400) deps.metrics.uploadErrors.inc({ reason: `http_${res.status}` });
    if (!incoming.readableEnded) {
      res.headers.set('connection', 'close');
      lingerThenClose(incoming);
    }
    return res;
  } catch (err) {
    deps.metrics.uploadErrors.inc({ reason: isAppError(err) ? err.code : 'internal' });
    if (!incoming.readableEnded) {
      c.header('connection', 'close');
      lingerThenClose(incoming);
    }
    throw err;
  } finally {
    upload.end();
  }
}
