import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { HttpBindings } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { LEGACY_UPLOAD_PATH, UPLOAD_PATH, type UploadResponse } from '../../shared/api.js';
import { clientAddress } from '../../shared/client-address.js';
import { errors, isAppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { ALLOWED_MIME_TYPES } from '../../shared/mime.js';
import { publicUrl } from '../../shared/paths.js';
import { uploadCors } from '../cors.js';
import type { NodeStore, ObjectRow } from '../db/store.js';
import type { NodeMetrics } from '../metrics.js';
import type { RateLimit } from '../rate-limit.js';
import { checkUploadToken, claimToken, type TokenCheckDeps } from '../upload/auth.js';
import type { DirSync } from '../upload/dir-sync.js';
import { finishUpload } from '../upload/finish.js';
import { bodySource, ingestToTmp } from '../upload/ingest.js';
import { lingerThenClose } from '../upload/linger.js';
import { ingestMultipart, MULTIPART_OVERHEAD_BYTES } from '../upload/multipart.js';
import type { UploadTracker } from '../upload/tracker.js';

export interface UploadDeps extends TokenCheckDeps {
  logger: Logger;
  store: NodeStore;
  dirSync: DirSync;
  /** Makes every database commit so far durable (group-committed WAL fsync). */
  syncDb: () => Promise<void>;
  rateLimit: RateLimit;
  metrics: NodeMetrics;
  tracker: UploadTracker;
  wakeOutbox: () => void;
  /** After the durable finish of every upload (direct and tus): queues its variant job. */
  onStored?: (row: ObjectRow) => void;
}

type Env = { Bindings: HttpBindings };

export function uploadRoutes(deps: UploadDeps): Hono<Env> {
  const app = new Hono<Env>();
  // HEAD is dispatched to GET handlers by hono: a probe that tells clients what we take.
  const probe = (c: Context<Env>) => {
    c.header('accept', ALLOWED_MIME_TYPES.join(', '));
    return c.body(null, 204);
  };

  const upload = async (c: Context<Env>) => {
    const incoming = c.env.incoming;
    const endTimer = deps.metrics.uploadDuration.startTimer({ kind: 'direct' });
    try {
      const res = await handleUpload(deps, c);
      deps.metrics.uploads.inc({ status: '201' });
      endTimer();
      return res;
    } catch (err) {
      deps.metrics.uploads.inc({ status: String(isAppError(err) ? err.status : 500) });
      deps.metrics.uploadErrors.inc({ reason: isAppError(err) ? err.code : 'internal' });
      // An early answer (401, 413, 415…) leaves body bytes unread: close instead of reusing
      // the connection, and do not wait for the rest of a huge body.
      if (!incoming.readableEnded) {
        c.header('connection', 'close');
        lingerThenClose(incoming);
      }
      throw err;
    }
  };

  // The old path answers with the same handler for one release (shared/api.ts).
  for (const path of [UPLOAD_PATH, LEGACY_UPLOAD_PATH]) {
    app.use(path, uploadCors());
    app.get(path, probe);
    app.post(path, upload);
  }
  return app;
}

async function handleUpload(deps: UploadDeps, c: Context<Env>): Promise<Response> {
  const incoming = c.env.incoming;
  await deps.rateLimit(clientAddress(incoming));
  const { claims, pool } = await checkUploadToken(deps, c.req.header('authorization'));
  const releaseToken = claimToken(deps.store, claims);
  const upload = deps.tracker.begin();
  try {
    const checksum = parseChecksum(c.req.header('x-checksum-sha256'));
    const multipart = /^multipart\/form-data\b/i.test(c.req.header('content-type') ?? '');
    const declared = parseContentLength(c.req.header('content-length'));
    if (declared !== undefined && declared > claims.max + (multipart ? MULTIPART_OVERHEAD_BYTES : 0))
      throw errors.tooLarge(`Content-Length ${declared} exceeds the ${claims.max} bytes this token allows`);
    const { free_bytes } = await deps.pools.capacity(pool, deps.store.usedBytes(pool.config.id));
    if (free_bytes < (declared ?? claims.max)) throw errors.insufficientStorage(`pool ${pool.config.id} has ${free_bytes} bytes free`);

    const uuid = randomUUID();
    const ingest = (source: Readable) => ingestToTmp({ source, poolPath: pool.config.path, uuid, max: claims.max, signal: upload.signal });
    const ingested = multipart
      ? await ingestMultipart(incoming, ingest, { maxFileBytes: claims.max, discard: (r) => fs.rm(r.tmpPath, { force: true }) })
      : await ingest(bodySource(incoming));
    if (checksum && checksum !== ingested.sha256) {
      await fs.rm(ingested.tmpPath, { force: true });
      throw errors.checksumMismatch(`body SHA-256 is ${ingested.sha256}, x-checksum-sha256 says ${checksum}`);
    }
    const row = await finishUpload(deps, {
      nodeId: deps.nodeId,
      poolId: pool.config.id,
      poolPath: pool.config.path,
      uuid,
      sessionId: claims.sid,
      userId: claims.sub,
      visibility: claims.vis,
      ingested,
      now: new Date(),
      deadline: claims.dl === undefined ? undefined : claims.dl * 1000,
    });
    deps.metrics.uploadBytes.inc(row.size);
    deps.metrics.uploadSize.observe({ kind: 'direct' }, row.size);
    deps.logger.info({ image_uuid: uuid, pool_id: row.pool_id, size: row.size, mime: row.mime }, 'upload stored');
    const body: UploadResponse = {
      image_uuid: uuid,
      sha256: row.sha256,
      size: row.size,
      mime: row.mime,
      pool_id: row.pool_id,
      node_id: deps.nodeId,
      status: 'processing',
      urls: { original: publicUrl(pool.config.public_base_url, row.rel_path) },
    };
    return c.json(body, 201);
  } catch (err) {
    releaseToken();
    throw err;
  } finally {
    upload.end();
  }
}

function parseChecksum(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const hex = header.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw errors.badRequest('bad_checksum', 'x-checksum-sha256 must be 64 hex characters');
  return hex;
}

function parseContentLength(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const n = Number(header);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
