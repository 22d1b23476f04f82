import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errors } from '../../shared/errors.js';
import { SNIFF_BYTES, type SniffedType, sniffImageType } from '../../shared/mime.js';
import type { Visibility } from '../../shared/tokens.js';
import type { ObjectRow } from '../db/store.js';
import type { TusUploadRow } from '../db/tus.js';
import { DiskStore } from '../pool-store/disk-store.js';
import type { TusDeps } from '../routes/tus.js';
import { finishUpload } from '../upload/finish.js';
import type { IngestResult } from '../upload/ingest.js';
import { MeterStream } from '../upload/meter.js';
import { notAnAllowedImage, SniffStream } from '../upload/sniff.js';
import { IMAGE_UUID_HEADER } from './service.js';

/**
 * A finished tus upload, checked the way a direct upload is while it streams: SHA-256 of the
 * whole file and its type from the first bytes (415 for anything but an allowed image). The
 * result feeds the same `finishUpload` as the direct route. When the PATCHes were hashed on the
 * way in (`knownSha256`: every byte seen in order by this process) only the head is read;
 * otherwise (a resumed upload after a restart, an interrupted chunk) the file is read once.
 */
export async function inspectCompleted(filePath: string, size: number, knownSha256?: string): Promise<IngestResult> {
  if (knownSha256) return { tmpPath: filePath, size, sha256: knownSha256, type: await sniffFile(filePath) };
  const meter = new MeterStream(size);
  const sniff = new SniffStream();
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  await pipeline(fs.createReadStream(filePath, { highWaterMark: 1024 * 1024 }), meter, sniff, sink);
  if (!sniff.type) throw errors.unsupportedType('empty upload');
  if (meter.bytes !== size) throw errors.internal(`upload file has ${meter.bytes} bytes, expected ${size}`);
  return { tmpPath: filePath, size, sha256: meter.sha256, type: sniff.type };
}

/** The type of a file from its first bytes, as SniffStream decides it (415 if not an allowed image). */
async function sniffFile(filePath: string): Promise<SniffedType> {
  const fh = await fs.promises.open(filePath, 'r');
  try {
    const head = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await fh.read(head, 0, SNIFF_BYTES, 0);
    const type = await sniffImageType(head.subarray(0, bytesRead));
    if (!type) throw notAnAllowedImage();
    return type;
  } finally {
    await fh.close();
  }
}

export interface CompleteInput {
  nodeId: string;
  poolId: string;
  poolPath: string;
  filePath: string;
  size: number;
  sessionId: string;
  userId: string;
  visibility: Visibility;
  /** SHA-256 of the whole file when this process hashed every byte on the way in. */
  sha256?: string;
  /** Epoch ms: an upload completing after its expiry is not finished (FinishInput.deadline). */
  deadline: number;
}

/**
 * The tus side of completion: fsync the bytes (FileStore writes without it), check them, then
 * the direct route's own `finishUpload`. A forbidden type or any failure deletes the data
 * (finishUpload removes the file it was given when it fails before its commit).
 */
export async function completeTusUpload(deps: Parameters<typeof finishUpload>[0], input: CompleteInput): Promise<ObjectRow> {
  let ingested: IngestResult;
  try {
    await new DiskStore({ root: input.poolPath }).syncFile(input.filePath);
    ingested = await inspectCompleted(input.filePath, input.size, input.sha256);
  } catch (err) {
    await fs.promises.rm(input.filePath, { force: true });
    throw err;
  }
  const uuid = randomUUID();
  return finishUpload(deps, {
    nodeId: input.nodeId,
    poolId: input.poolId,
    poolPath: input.poolPath,
    uuid,
    sessionId: input.sessionId,
    userId: input.userId,
    visibility: input.visibility,
    ingested,
    now: new Date(),
    deadline: input.deadline,
  });
}

/**
 * A request that completed the upload (Upload-Offset = Upload-Length) goes through the direct
 * upload's finish step; the client learns the image uuid from the response header.
 */
export async function finishIfComplete(deps: TusDeps, row: TusUploadRow, res: Response): Promise<Response> {
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
      visibility: row.visibility,
      sha256: deps.tus.digest(row.id, row.size),
      deadline: row.expires_at,
    });
    deps.metrics.uploads.inc({ status: '201' });
    deps.metrics.uploadBytes.inc(obj.size);
    deps.metrics.uploadSize.observe({ kind: 'tus' }, obj.size);
    deps.metrics.uploadDuration.observe({ kind: 'tus' }, (Date.now() - row.created_at) / 1000);
    deps.logger.info({ image_uuid: obj.uuid, pool_id: obj.pool_id, size: obj.size, mime: obj.mime, tus: true }, 'upload stored');
    res.headers.set(IMAGE_UUID_HEADER, obj.uuid);
    return res;
  } finally {
    await deps.tus.remove(row);
  }
}
