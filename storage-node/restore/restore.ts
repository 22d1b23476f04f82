import fs from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../../shared/logger.js';
import type { CopyStored } from '../../shared/replication.js';
import type { RestoreItem, RestorePage } from '../../shared/restore.js';
import { nodeObjects } from '../db/objects.js';
import type { Db } from '../db/open.js';
import type { CopyRecord, NodeStore } from '../db/store.js';
import type { PoolRuntime } from '../pools.js';
import { hashFile } from '../replication/hash-file.js';
import { originalUuid, resolveReplicaFile } from '../replication/replica-path.js';
import { inParallel } from '../variants/in-parallel.js';
import { fetchOriginal, S3ObjectError } from './fetch.js';

/** What restoring one original into one pool needs (the command and the `restore` job alike). */
export interface RestoreItemDeps {
  nodeId: string;
  pool: PoolRuntime;
  db: Db;
  store: NodeStore;
  /** The pool's own S3 client (its backup target's credentials). */
  s3: S3Client;
}

/** 'present': the file and its row were already here; otherwise what was fetched. */
export type RestoreItemOutcome = 'present' | { bytes: number };

export interface RestoreDeps extends RestoreItemDeps {
  /** The coordinator's list, one page after the cursor ('' for the first). */
  listPage: (after: string) => Promise<RestorePage>;
  /** Queues the variants job of a restored original; false when Redis is unreachable. */
  enqueueVariants: (uuid: string) => Promise<boolean>;
  concurrency: number;
  logger: Logger;
}

/** The one JSON line `fennec-node restore` prints. */
export interface RestoreSummary {
  pool_id: string;
  listed: number;
  restored: number;
  present: number;
  failed: { image_uuid: string; reason: string }[];
  bytes: number;
}

export interface RestoreResult {
  summary: RestoreSummary;
  /** Restored originals whose variants job could not be queued (Redis down): the node's resync queues them. */
  unqueued: number;
}

/**
 * Rebuilds one pool from S3 beside a running node: every listed original that is not here with
 * the right bytes and a row is fetched, verified, renamed into place and recorded (status
 * processing, a `copy.stored` report in the same transaction), and its variants job queued for
 * the running node's worker. One item's failure never stops the others.
 */
export async function restorePool(deps: RestoreDeps): Promise<RestoreResult> {
  const summary: RestoreSummary = { pool_id: deps.pool.config.id, listed: 0, restored: 0, present: 0, failed: [], bytes: 0 };
  let unqueued = 0;
  const restore = itemRestorer(deps);
  const one = async (item: RestoreItem) => {
    try {
      const outcome = await restore(item);
      if (outcome === 'present') summary.present++;
      else {
        summary.restored++;
        summary.bytes += outcome.bytes;
        if (!(await deps.enqueueVariants(item.image_uuid))) unqueued++;
      }
    } catch (err) {
      const reason = err instanceof S3ObjectError ? err.reason : (err as Error).message;
      deps.logger.warn({ image_uuid: item.image_uuid, err: (err as Error).message }, 'restore of an original failed');
      summary.failed.push({ image_uuid: item.image_uuid, reason });
    }
  };
  let after = '';
  for (;;) {
    const page = await deps.listPage(after);
    summary.listed += page.items.length;
    await inParallel(
      deps.concurrency,
      page.items.map((item) => () => one(item)),
    );
    if (page.next_after === null) break;
    after = page.next_after;
  }
  return { summary, unqueued };
}

/**
 * One original back from S3 into `deps.pool`: checked against any row this node has, fetched
 * (streamed, size and SHA-256 verified, fsynced, renamed) unless the right bytes are already on
 * disk, then the row (status processing: the variants are made again) and its `copy.stored`
 * report recorded in one transaction. The caller queues the variants job of a fetched original.
 * With `reportPresent`, an original already here with its row is reported `copy.stored` again
 * (a retried job whose first report the coordinator may not have seen) and left as it is.
 * Throws S3ObjectError when S3 has other bytes or none.
 */
export function itemRestorer(
  deps: RestoreItemDeps,
): (item: RestoreItem, opts?: { reportPresent?: boolean }) => Promise<RestoreItemOutcome> {
  // Variants are made again from the restored original: the row starts over.
  const objects = nodeObjects(deps.db);
  const record = deps.db.transaction((row: CopyRecord, stored: CopyStored, now: number, again: boolean) => {
    deps.store.recordCopy(row, stored, now);
    if (!again) objects.restartProcessing(row.uuid);
  });
  return (item, opts = {}) => restoreItem(deps, item, record, opts.reportPresent ?? false);
}

type RecordRestored = (row: CopyRecord, stored: CopyStored, now: number, again: boolean) => void;

async function restoreItem(
  deps: RestoreItemDeps,
  item: RestoreItem,
  record: RecordRestored,
  reportPresent: boolean,
): Promise<RestoreItemOutcome> {
  if (originalUuid(item.rel_path) !== item.image_uuid)
    throw new Error(`bad_path: ${item.rel_path} is not the original of ${item.image_uuid}`);
  const poolId = deps.pool.config.id;
  const row = deps.store.getObject(item.image_uuid);
  // Checked before a byte is written: a row of other bytes or another place is not ours to replace.
  if (row && (row.sha256 !== item.sha256 || row.size !== item.size || row.rel_path !== item.rel_path || row.pool_id !== poolId))
    throw new Error(`conflict: this node records ${item.image_uuid} with other bytes or in another place`);
  const finalPath = await resolveReplicaFile(deps.pool, item.rel_path);
  const onDisk = await sameBytes(finalPath, item.size, item.sha256);
  const present = onDisk && row !== undefined;
  if (present && !reportPresent) return 'present';
  if (!onDisk) await fetchOriginal({ s3: deps.s3, poolPath: deps.pool.config.path, item });
  const now = Date.now();
  const copy: CopyRecord = {
    uuid: item.image_uuid,
    session_id: item.session_id,
    user_id: item.user_id,
    pool_id: poolId,
    rel_path: item.rel_path,
    size: item.size,
    sha256: item.sha256,
    mime: item.mime,
    created_at: item.created_at,
    status: 'processing',
    width: null,
    height: null,
    format: null,
    variants: null,
  };
  record(
    copy,
    {
      image_uuid: item.image_uuid,
      node_id: deps.nodeId,
      pool_id: poolId,
      rel_path: item.rel_path,
      size: item.size,
      sha256: item.sha256,
      at: new Date(now).toISOString(),
    },
    now,
    present,
  );
  return present ? 'present' : { bytes: onDisk ? 0 : item.size };
}

/** Whether the file there has exactly these bytes, hashed from disk. */
async function sameBytes(file: string, size: number, sha256: string): Promise<boolean> {
  try {
    const st = await fs.lstat(file);
    if (!st.isFile() || st.size !== size) return false;
    return (await hashFile(file)).sha256 === sha256;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
