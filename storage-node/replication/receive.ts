import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { errors } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { CopyStored, ReplicaMeta } from '../../shared/replication.js';
import type { CopyRecord, NodeStore } from '../db/store.js';
import { DiskStore } from '../pool-store/disk-store.js';
import type { PoolRuntime, PoolSet } from '../pools.js';
import type { DurableRecordDeps } from '../upload/finish.js';
import { ReplicaTypeCheck } from './replica-type.js';

export interface ReceiveDeps extends DurableRecordDeps {
  nodeId: string;
  pools: PoolSet;
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

/**
 * Receives one copy from a peer: room (507), record conflict (409), the body streamed to tmp/
 * while hashed, counted (422 on any lie) and sniffed (415 unless it is the image type the
 * extension names: replica-type.ts), the temp file gone on any refusal, then either the same bytes are
 * already there (200) or the verified file is renamed into place and the directory fsynced
 * (201; a different file there — a corrupt copy, a stale variant — is replaced atomically).
 * An original's row and its `copy.stored` report commit together and are made durable before
 * the answer. A replica never fans out again: receiving a copy queues at most the variants of
 * it, never another copy — deciding where copies go is the coordinator's.
 */
export async function receiveReplica(deps: ReceiveDeps, put: ReplicaPut): Promise<ReplicaResult> {
  const poolId = put.pool.config.id;
  const { free_bytes } = await deps.pools.capacity(put.pool, deps.store.usedBytes(poolId));
  if (!put.pool.writable || free_bytes < put.size) throw errors.insufficientStorage(`pool ${poolId} has no room for ${put.size} bytes`);
  if (put.meta) checkRecord(deps.store, put, put.meta);

  const disk = new DiskStore({ root: put.pool.config.path, dirSync: deps.dirSync });
  const staged = await disk.stage(put.body(), {
    expectSize: put.size,
    expectSha256: put.sha256,
    signal: put.signal,
    // 415 before a byte reaches tmp/ unless the head is the image type the extension names.
    transform: new ReplicaTypeCheck(put.rel),
    tmpName: `replica-${randomUUID()}`,
  });
  let identical: boolean;
  try {
    identical = await disk.holds(put.rel, put);
    if (!identical) await disk.commit(staged, put.rel);
    // The same bytes, maybe renamed by a concurrent PUT whose directory fsync is still running.
    else await disk.syncDirOf(put.rel);
  } finally {
    await disk.discard(staged);
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
  if (
    known &&
    (known.sha256 !== put.sha256 || known.size !== put.size || known.pool_id !== put.pool.config.id || known.rel_path !== put.rel)
  )
    throw errors.conflict('conflict', `this node records ${meta.image_uuid} with other bytes or in another place`);
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
