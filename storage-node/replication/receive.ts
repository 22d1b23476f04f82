import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, errors, isAppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { TMP_DIR } from '../../shared/paths.js';
import type { CopyStored, ReplicaMeta } from '../../shared/replication.js';
import type { PoolRuntime, PoolSet } from '../pools.js';
import type { CopyRecord, NodeStore, ObjectRow } from '../db/store.js';
import type { DirSync } from '../upload/dir-sync.js';
import { incompleteBody } from '../upload/ingest.js';
import { MeterStream } from '../upload/meter.js';
import { hashFile } from './hash-file.js';

export interface ReceiveDeps {
  nodeId: string;
  pools: PoolSet;
  store: NodeStore;
  dirSync: DirSync;
  /** Makes every database commit so far durable (group-committed WAL fsync). */
  syncDb: () => Promise<void>;
  wakeOutbox: () => void;
  /** Queues the variant job of an original whose record asks for variants to be made here. */
  onStored?: (row: ObjectRow) => void;
  logger: Logger;
}

/** One checked PUT: where it goes and what its body must be. */
export interface ReplicaPut {
  pool: PoolRuntime;
  /** Pool-relative path (replica-path.ts checked it). */
  rel: string;
  /** Absolute final path, no symlink on the way (resolveReplicaFile). */
  finalPath: string;
  size: number;
  sha256: string;
  /** An original's record; undefined for a variant file, which is stored and not recorded. */
  meta: ReplicaMeta | undefined;
  /** The request body, opened only once the PUT is accepted (a refusal leaves it to the route). */
  body: () => Readable;
  signal: AbortSignal;
}

/** The answer's body: 201 `stored: true`, 200 `identical: true` (the same bytes were there). */
export interface ReplicaResult {
  stored: boolean;
  identical: boolean;
  pool_id: string;
  path: string;
  size: number;
  sha256: string;
}

const sizeMismatch = (message: string) => new AppError({ code: 'size_mismatch', status: 422, message });

/**
 * Receives one copy from a peer: room (507), record conflict (409), the body streamed to tmp/
 * while hashed and counted (422 on any lie, the temp file gone), then either the same bytes are
 * already there (200) or the verified file is renamed into place and the directory fsynced
 * (201; a different file there — a corrupt copy, a stale variant — is replaced atomically).
 * An original's row and its `copy.stored` report commit together and are made durable before
 * the answer. A replica never fans out again: receiving a copy queues at most the variants of
 * it, never another copy — deciding where copies go is the coordinator's.
 */
export async function receiveReplica(deps: ReceiveDeps, put: ReplicaPut): Promise<ReplicaResult> {
  const poolId = put.pool.config.id;
  const { free_bytes } = await deps.pools.capacity(put.pool, deps.store.usedBytes(poolId));
  if (!put.pool.writable || free_bytes < put.size)
    throw errors.insufficientStorage(`pool ${poolId} has no room for ${put.size} bytes`);
  if (put.meta) checkRecord(deps.store, put, put.meta);

  const tmp = await streamToTmp(put);
  let identical: boolean;
  try {
    identical = await sameBytes(put.finalPath, put.size, put.sha256);
    if (!identical) await commitFile(deps.dirSync, tmp, put.finalPath);
    // The same bytes, maybe renamed by a concurrent PUT whose directory fsync is still running.
    else await deps.dirSync.sync(path.dirname(put.finalPath));
  } finally {
    await fs.promises.rm(tmp, { force: true });
  }
  // Past this point the file stays even if recording fails: it has verified bytes, and the
  // sender's retry finds it identical and records it then.
  if (put.meta) await record(deps, put, put.meta);
  return { stored: !identical, identical, pool_id: poolId, path: put.rel, size: put.size, sha256: put.sha256 };
}

/**
 * 409 before reading a byte when this node records the object otherwise. The same sha256 is
 * the repair case (scrub found the file corrupt): the PUT goes on and replaces it.
 */
function checkRecord(store: NodeStore, put: ReplicaPut, meta: ReplicaMeta): void {
  const known = store.getObject(meta.image_uuid);
  if (known && (known.sha256 !== put.sha256 || known.size !== put.size || known.pool_id !== put.pool.config.id || known.rel_path !== put.rel))
    throw errors.conflict('conflict', `this node records ${meta.image_uuid} with other bytes or in another place`);
}

/** Body → `{pool}/tmp/{random}.part`, fsynced on close (`flush`); resolves only when it is exactly what the token promised. */
async function streamToTmp(put: ReplicaPut): Promise<string> {
  const tmp = path.join(put.pool.config.path, TMP_DIR, `replica-${randomUUID()}.part`);
  const meter = new MeterStream(put.size);
  const file = fs.createWriteStream(tmp, { flags: 'wx', flush: true });
  try {
    await pipeline(put.body(), meter, file, { signal: put.signal });
    if (!file.closed) await once(file, 'close');
    if (meter.bytes !== put.size) throw sizeMismatch(`the body has ${meter.bytes} bytes, the PUT promised ${put.size}`);
    if (meter.sha256 !== put.sha256)
      throw errors.checksumMismatch(`the body hashes to ${meter.sha256}, ${put.sha256} was promised`);
    return tmp;
  } catch (err) {
    file.destroy();
    if (!file.closed) await once(file, 'close').catch(() => undefined);
    await fs.promises.rm(tmp, { force: true });
    throw normalize(err, put.signal);
  }
}

function normalize(err: unknown, signal: AbortSignal): unknown {
  if (isAppError(err)) return err.code === 'too_large' ? sizeMismatch('the body is longer than the PUT promised') : err;
  if (signal.aborted) return isAppError(signal.reason) ? signal.reason : incompleteBody();
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return errors.insufficientStorage('the pool ran out of space');
  if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET') return incompleteBody();
  return err;
}

/** Whether the file there has exactly these bytes — hashed from disk, since a record can be wrong. */
async function sameBytes(file: string, size: number, sha256: string): Promise<boolean> {
  try {
    const st = await fs.promises.lstat(file);
    if (!st.isFile() || st.size !== size) return false;
    return (await hashFile(file)).sha256 === sha256;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** mkdir -p, atomic rename over whatever is there, fsync of the directory and of the parents of new directories. */
async function commitFile(dirSync: DirSync, tmp: string, finalPath: string): Promise<void> {
  const dir = path.dirname(finalPath);
  try {
    const firstCreated = await fs.promises.mkdir(dir, { recursive: true });
    if (firstCreated) {
      const stop = path.dirname(firstCreated);
      const parents: string[] = [];
      for (let d = dir; d !== stop && d.length > stop.length; d = path.dirname(d)) parents.push(path.dirname(d));
      await Promise.all(parents.map((d) => dirSync.sync(d)));
    }
    await fs.promises.rename(tmp, finalPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') throw errors.insufficientStorage('the pool ran out of space');
    throw err;
  }
  await dirSync.sync(dir);
}

async function record(deps: ReceiveDeps, put: ReplicaPut, meta: ReplicaMeta): Promise<void> {
  const now = Date.now();
  const row: CopyRecord = {
    uuid: meta.image_uuid,
    session_id: meta.session_id,
    user_id: meta.user_id,
    pool_id: put.pool.config.id,
    rel_path: put.rel,
    size: put.size,
    sha256: put.sha256,
    mime: meta.mime,
    created_at: meta.created_at,
    status: meta.status,
    width: meta.width,
    height: meta.height,
    format: meta.format,
    variants: meta.variants === null ? null : JSON.stringify(meta.variants),
  };
  const stored: CopyStored = {
    image_uuid: row.uuid,
    node_id: deps.nodeId,
    pool_id: row.pool_id,
    rel_path: row.rel_path,
    size: row.size,
    sha256: row.sha256,
    at: new Date(now).toISOString(),
  };
  const outcome = deps.store.recordCopy(row, stored, now);
  await deps.syncDb();
  deps.wakeOutbox();
  // Variants are made here only when the sender did not bring them, and only for an image
  // not already finished here (a repaired original keeps the variants it has).
  if (meta.variants === null && (outcome.created || outcome.previousStatus === 'processing')) deps.onStored?.(row);
  deps.logger.info({ image_uuid: row.uuid, pool_id: row.pool_id, size: row.size, created: outcome.created }, 'copy stored');
}
