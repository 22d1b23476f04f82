import type { S3Client } from '@aws-sdk/client-s3';
import { type Job, UnrecoverableError } from 'bullmq';
import { isAppError } from '../../shared/errors.js';
import type { JobData, RestoreJob } from '../../shared/jobs.js';
import type { Logger } from '../../shared/logger.js';
import { createS3Client } from '../backup/s3.js';
import type { NodeConfig } from '../config.js';
import type { Db } from '../db/open.js';
import { createStore, type NodeStore } from '../db/store.js';
import type { PoolSet } from '../pools.js';
import { S3ObjectError } from '../restore/fetch.js';
import { itemRestorer, type RestoreItemDeps } from '../restore/restore.js';
import { nextVariantJob } from './kinds.js';

/** What the `restore` job needs; the worker process builds it with `restoreJobDeps`. */
export interface RestoreJobDeps {
  nodeId: string;
  pools: PoolSet;
  db: Db;
  store: NodeStore;
  logger: Logger;
  /** The pool's backup bucket and an S3 client with its credentials; undefined without a target. */
  s3For(poolId: string): { bucket: string; s3: S3Client } | undefined;
  /** Queues a job on this node's queue (the restored original's variants). */
  enqueue(data: JobData): Promise<boolean>;
  /** Tells the main process that rows changed and the outbox has a report. */
  changed(): void;
}

/** Builds the deps from the node's config: one S3 client per pool with a backup target, made on first use. */
export function restoreJobDeps(
  cfg: NodeConfig,
  ctx: { db: Db; pools: PoolSet; logger: Logger; enqueue: (data: JobData) => Promise<boolean>; changed: () => void },
): RestoreJobDeps {
  const clients = new Map<string, S3Client>();
  return {
    nodeId: cfg.nodeId,
    pools: ctx.pools,
    db: ctx.db,
    store: createStore(ctx.db),
    logger: ctx.logger,
    s3For(poolId) {
      const target = cfg.pools.find((p) => p.id === poolId)?.backup;
      const credentials = cfg.backup.credentials[poolId];
      if (!target || !credentials) return undefined;
      let s3 = clients.get(poolId);
      if (!s3) clients.set(poolId, (s3 = createS3Client(target, credentials)));
      return { bucket: target.bucket, s3 };
    },
    enqueue: ctx.enqueue,
    changed: ctx.changed,
  };
}

/**
 * `restore` (added by the coordinator when an object's S3 backup is its only copy left): the
 * original comes back into the job's pool with that pool's own S3 client, through the same
 * per-item function as `fennec-node restore` — verified, committed, recorded with its
 * `copy.stored` report, and its variants job queued. Idempotent: run again with the file and
 * row in place, it only reports `copy.stored` again. What retrying cannot fix (no backup
 * target here, another bucket, S3 holding other bytes or none, a row of other bytes) ends the
 * job at once; the coordinator gives the pending copy up and plans it elsewhere.
 */
export function restoreHandler(deps: RestoreJobDeps): (job: Job<RestoreJob>) => Promise<string> {
  const restorers = new Map<string, ReturnType<typeof itemRestorer>>();
  return async function restoreJob(job) {
    const { image_uuid: uuid, pool_id: poolId, restore } = job.data;
    const pool = deps.pools.get(poolId);
    if (!pool) throw new UnrecoverableError(`pool ${poolId} is not on this node`);
    const dest = deps.s3For(poolId);
    if (!dest) throw new UnrecoverableError(`pool ${poolId} has no S3 backup target: it cannot read s3://${restore.bucket}`);
    if (dest.bucket !== restore.bucket)
      throw new UnrecoverableError(`pool ${poolId} backs up to bucket ${dest.bucket}, not ${restore.bucket}`);
    let restorer = restorers.get(poolId);
    if (!restorer) {
      const itemDeps: RestoreItemDeps = { nodeId: deps.nodeId, pool, db: deps.db, store: deps.store, s3: dest.s3 };
      restorers.set(poolId, (restorer = itemRestorer(itemDeps)));
    }
    let outcome;
    try {
      outcome = await restorer({ image_uuid: uuid, ...restore }, { reportPresent: true });
    } catch (err) {
      if (err instanceof S3ObjectError) throw new UnrecoverableError(`${err.reason}: ${err.message}`);
      if (isAppError(err) && !err.retryable) throw new UnrecoverableError(err.message);
      if (/^(bad_path|conflict): /.test((err as Error).message)) throw new UnrecoverableError((err as Error).message);
      throw err;
    }
    deps.changed();
    if (outcome === 'present') return 'present; copy.stored reported again';
    // Redis down now: the node's resync queues the variants of a processing row from SQLite.
    await deps.enqueue(nextVariantJob({ uuid, thumbnails_ready: 0 }));
    deps.logger.info({ image_uuid: uuid, pool_id: poolId, bytes: outcome.bytes }, 'original restored from S3');
    return `restored ${outcome.bytes} bytes`;
  };
}
