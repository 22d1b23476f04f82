import type { HttpBindings } from '@hono/node-server';
import type { Hash } from 'node:crypto';
import fs from 'node:fs/promises';
import { Hono, type Context } from 'hono';
import { AppError, errors } from '../../shared/errors.js';
import { checkUploadToken, claimToken } from '../upload/auth.js';
import { lingerThenClose } from '../upload/linger.js';
import { tusBody } from '../tus/body.js';
import { CHECKSUM_ALGORITHMS, ChecksumHeaderError, parseUploadChecksum } from '../tus/checksum.js';
import { completeTusUpload } from '../tus/complete.js';
import type { TusUploadRow } from '../tus/registry.js';
import { IMAGE_UUID_HEADER, TUS_PATH, TusService } from '../tus/service.js';
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

  app.use(`${TUS_PATH}/*`, async (c, next) => {
    c.header('Tus-Resumable', '1.0.0');
    await next();
  });
  app.use(TUS_PATH, async (c, next) => {
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
    const res = await tus.handle(row.pool_id, forward(c, undefined));
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
      const res = await tus.handle(row.pool_id, forward(c, undefined));
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
  const res = await deps.tus.handle(pool.config.id, forward(c, undefined));
  res.headers.set('Tus-Extension', `${res.headers.get('Tus-Extension')},checksum`);
  res.headers.set('Tus-Checksum-Algorithm', CHECKSUM_ALGORITHMS.join(','));
  return res;
}

/** POST: the session token creates its one upload (its jti), of at most `max` bytes. */
async function create(deps: TusDeps, c: Ctx): Promise<Response> {
  const { tus } = deps;
  await deps.rateLimit(c.env.incoming.socket.remoteAddress ?? 'unknown');
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
    size: length,
    created_at: now,
    expires_at: now + tus.expirationMs,
  };
  tus.registry.insert(row);
  const unlock = tus.tryLock(row.id)!;
  let ok = false;
  try {
    const withBody = c.req.header('content-type') === 'application/offset+octet-stream';
    const { req, checksum, hashed } = forwardWithBody(c, withBody, tus.takeHash(row.id, 0));
    const res = await tus.handle(row.pool_id, req, row.id);
    if (res.status !== 201) return res;
    if (checksum?.mismatched) throw checksumMismatch();
    keepHashIf(tus, row.id, 0, res, hashed);
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
    const { req, checksum, hashed } = forwardWithBody(c, true, running);
    const res = await tus.handle(row.pool_id, req);
    // A failed checksummed chunk, or a body refused for running past Upload-Length, leaves
    // nothing: the upload is back at the offset it had before this request.
    const discard = (checksum && (checksum.mismatched || res.status !== 204)) || res.status === 413;
    if (discard && before !== undefined) await fs.truncate(file, before).catch(() => undefined);
    if (checksum?.mismatched) throw checksumMismatch();
    if (res.status !== 204) return res;
    if (before !== undefined) keepHashIf(tus, row.id, before, res, hashed);
    return await finishIfComplete(deps, row, res);
  } finally {
    unlock();
  }
}

/**
 * A request that completed the upload (Upload-Offset = Upload-Length) goes through the direct
 * upload's finish step; the client learns the image uuid from the response header.
 */
async function finishIfComplete(deps: TusDeps, row: TusUploadRow, res: Response): Promise<Response> {
  if (Number(res.headers.get('upload-offset')) !== row.size) return res;
  const pool = deps.pools.get(row.pool_id)!;
  try {
    const obj = await completeTusUpload(deps, {
      nodeId: deps.nodeId,
      poolId: row.pool_id,
      poolPath: pool.config.path,
      filePath: deps.tus.filePath(row),
      size: row.size,
      sessionId: row.session_id,
      userId: row.user_id,
      sha256: deps.tus.digest(row.id, row.size),
    });
    deps.metrics.uploads.inc({ status: '201' });
    deps.metrics.uploadBytes.inc(obj.size);
    deps.logger.info({ image_uuid: obj.uuid, pool_id: obj.pool_id, size: obj.size, mime: obj.mime, tus: true }, 'upload stored');
    res.headers.set(IMAGE_UUID_HEADER, obj.uuid);
    return res;
  } finally {
    await deps.tus.remove(row);
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
  return row;
}

/** The request as @tus/server takes it (a web Request), without a body. */
function forward(c: Ctx, body: ReadableStream<Uint8Array> | undefined): Request {
  const init: RequestInit & { duplex?: 'half' } = { method: c.req.method, headers: c.req.raw.headers };
  if (body) {
    init.body = body;
    init.duplex = 'half';
  }
  return new Request(c.req.url, init);
}

/** The running hash stays valid only if exactly the bytes it saw were written. */
function keepHashIf(tus: TusService, id: string, before: number, res: Response, hashed: { hash?: Hash; bytes: () => number }): void {
  if (hashed.hash && before + hashed.bytes() === Number(res.headers.get('upload-offset'))) tus.keepHash(id, hashed.hash, before + hashed.bytes());
}

function forwardWithBody(c: Ctx, withBody: boolean, running?: Hash) {
  let expected;
  try {
    expected = parseUploadChecksum(c.req.header('upload-checksum'));
  } catch (err) {
    if (err instanceof ChecksumHeaderError) throw errors.badRequest('invalid_checksum', err.message);
    throw err;
  }
  if (!withBody) return { req: forward(c, undefined), checksum: undefined, hashed: { hash: running, bytes: () => 0 } };
  const { body, checksum, hashed } = tusBody(c.env.incoming, expected, running);
  return { req: forward(c, body), checksum, hashed: { hash: running, bytes: hashed } };
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
    if (!incoming.readableEnded) {
      res.headers.set('connection', 'close');
      lingerThenClose(incoming);
    }
    return res;
  } catch (err) {
    if (!incoming.readableEnded) {
      c.header('connection', 'close');
      lingerThenClose(incoming);
    }
    throw err;
  } finally {
    upload.end();
  }
}
