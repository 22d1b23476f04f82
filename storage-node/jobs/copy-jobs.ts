import fs from 'node:fs/promises';
import { type Job, UnrecoverableError } from 'bullmq';
import { isAppError } from '../../shared/errors.js';
import type { CopyTarget, DeleteJob, MoveJob, ReplicateJob } from '../../shared/jobs.js';
import type { Logger } from '../../shared/logger.js';
import type { MoveItemAnswer, MoveItemReport } from '../../shared/replication.js';
import type { PoolSet } from '../pools.js';
import { hashFile } from '../replication/hash-file.js';
import { copyWithinNode } from '../replication/local-move.js';
import { absPath, filesOf, type LocalObject, replicaMeta, variantsOf } from '../replication/local-objects.js';
import { LocalCopyBad, putFile, type SenderDeps } from '../replication/send.js';
import { copyIntoS3Pool } from '../s3-pool/move-in.js';

/** What the replicate, move and delete jobs need; the worker process builds it. */
export interface CopyJobDeps {
  nodeId: string;
  pools: PoolSet;
  logger: Logger;
  sender: SenderDeps;
  getObject(uuid: string): LocalObject | undefined;
  /** The local original is missing or has other bytes: recorded and reported (copy.corrupt), as scrub does. */
  markBad(o: LocalObject, reason: 'missing' | 'mismatch'): void;
  /** Removes the object's row (if any), reporting `copy.deleted` to the coordinator when asked. */
  forget(ref: { uuid: string; pool_id: string }, report: boolean): void;
  /** The row now belongs to another pool of this node (a move between two local pools). */
  setPool(uuid: string, poolId: string): void;
  /** Synchronous question to the coordinator during a move (node-signed). */
  reportMoveItem(report: MoveItemReport): Promise<MoveItemAnswer>;
  /** Tells the main process that rows changed (its used-bytes figures, the outbox). */
  changed(): void;
}

type Handler<D> = (job: Job<D>) => Promise<string>;

function poolPath(deps: CopyJobDeps, o: LocalObject): string {
  const pool = deps.pools.get(o.pool_id);
  if (!pool && deps.pools.s3(o.pool_id))
    throw new UnrecoverableError(`pool ${o.pool_id} is an s3 pool: copies and moves out of a bucket are not supported`);
  if (!pool) throw new UnrecoverableError(`pool ${o.pool_id} is not on this node`);
  return pool.config.path;
}

/** Retryable failures stay retryable; a refusal or a bad local file ends the job at once. */
function jobError(deps: CopyJobDeps, o: LocalObject, err: unknown): unknown {
  if (err instanceof LocalCopyBad) {
    deps.markBad(o, err.reason);
    deps.changed();
    return new UnrecoverableError(err.message);
  }
  if (isAppError(err) && !err.retryable) return new UnrecoverableError(err.message);
  return err;
}

async function sendOriginal(deps: CopyJobDeps, o: LocalObject, target: CopyTarget, withVariants: boolean): Promise<string> {
  return putFile(deps.sender, {
    target,
    relPath: o.rel_path,
    file: absPath(poolPath(deps, o), o.rel_path),
    size: o.size,
    sha256: o.sha256,
    meta: replicaMeta(o, withVariants),
  });
}

/**
 * `replicate`: the original goes to another node, which regenerates the variants itself (less
 * traffic between VPS than sending them). Also how a corrupt copy elsewhere is repaired: the
 * target overwrites its bad file only after the bytes hash right.
 */
export function replicateHandler(deps: CopyJobDeps): Handler<ReplicateJob> {
  return async function replicateJob(job) {
    const { target } = job.data;
    const o = deps.getObject(job.data.image_uuid);
    if (!o) throw new UnrecoverableError(`no local copy of ${job.data.image_uuid}`);
    try {
      return await sendOriginal(deps, o, target, false);
    } catch (err) {
      throw jobError(deps, o, err);
    }
  };
}

/**
 * `move`: copy every file to the target pool (variants first, the original last with the record,
 * so the target never records an object whose variants it lacks), let the coordinator switch
 * the index, and only then delete here. Each step is idempotent, so a job killed anywhere and
 * run again ends the same way.
 */
export function moveHandler(deps: CopyJobDeps): Handler<MoveJob> {
  return async function moveJob(job) {
    const { target, move_id } = job.data;
    const report = (o: LocalObject | undefined, outcome: MoveItemReport['outcome'], error: string | null) =>
      deps.reportMoveItem({
        move_id,
        image_uuid: job.data.image_uuid,
        node_id: deps.nodeId,
        outcome,
        target_pool_id: target.pool_id,
        bytes: o?.size ?? 0,
        error,
      });
    const o = deps.getObject(job.data.image_uuid);
    // Gone here: either an earlier run of this job finished the move (the coordinator keeps the
    // item done) or the file was never here. Either way there is nothing to copy.
    if (!o) return (await report(undefined, 'missing', 'no local record'), 'missing');
    // Into a bucket of this node (the S3 cold tier); a bucket behind another node is refused there.
    const bucket = target.node_id === deps.nodeId ? deps.pools.s3(target.pool_id) : undefined;
    // A rerun after the row switched to the bucket (killed before the local files went): copied
    // already. One row per uuid, so files of it left in a disk pool here belong to no copy.
    if (bucket && o.pool_id === bucket.id) {
      const answer = await report(o, 'copied', null);
      if (answer.delete_source) await Promise.all(deps.pools.all().map((p) => removeFiles(p.config.path, filesOf(o))));
      return 'already in the bucket';
    }
    const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    try {
      if (bucket) await copyIntoS3Pool(deps, bucket, poolPath(deps, o), o);
      else if (target.node_id === deps.nodeId) await copyLocally(deps, o, target.pool_id);
      else await copyRemotely(deps, o, target);
    } catch (err) {
      if (err instanceof LocalCopyBad) {
        deps.markBad(o, err.reason);
        deps.changed();
        await report(o, 'missing', err.message);
        return 'missing';
      }
      const final = jobError(deps, o, err);
      if (last || final instanceof UnrecoverableError) await report(o, 'failed', (err as Error).message).catch(() => undefined);
      throw final;
    }
    const answer = await report(o, 'copied', null);
    if (!answer.delete_source) return 'copied; source kept';
    const sourcePath = poolPath(deps, o);
    if (target.node_id === deps.nodeId) deps.setPool(o.uuid, target.pool_id);
    else deps.forget(o, false);
    await removeFiles(sourcePath, filesOf(o));
    deps.changed();
    return 'moved';
  };
}

async function copyRemotely(deps: CopyJobDeps, o: LocalObject, target: CopyTarget): Promise<void> {
  const base = poolPath(deps, o);
  const withVariants = o.status !== 'processing';
  if (withVariants) {
    for (const v of variantsOf(o)) {
      const file = absPath(base, v.rel_path);
      let sha256: string;
      let size: number;
      try {
        ({ sha256, size } = await hashFile(file));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        deps.logger.warn({ image_uuid: o.uuid, file: v.rel_path }, 'variant missing at the source; moved without it');
        continue;
      }
      await putFile(deps.sender, { target, relPath: v.rel_path, file, size, sha256 });
    }
  }
  await sendOriginal(deps, o, target, withVariants);
}

async function copyLocally(deps: CopyJobDeps, o: LocalObject, targetPoolId: string): Promise<void> {
  const to = deps.pools.get(targetPoolId);
  if (!to) throw new UnrecoverableError(`target pool ${targetPoolId} is not on this node`);
  await copyWithinNode({ from: poolPath(deps, o), to: to.config.path, object: o });
}

async function removeFiles(base: string, rels: string[]): Promise<void> {
  await Promise.all(rels.map((rel) => fs.rm(absPath(base, rel), { force: true })));
}

/**
 * `delete`: a surplus copy (a lost node came back, or a repair overshot), or a deleted image's
 * copy. Files (or an s3 pool's keys) first, then the
 * row and its `copy.deleted` report together: a crash in between leaves a row scrub reports
 * missing, never files nobody knows about.
 */
export function deleteHandler(deps: CopyJobDeps): Handler<DeleteJob> {
  return async function deleteJob(job) {
    const o = deps.getObject(job.data.image_uuid);
    if (!o || o.pool_id !== job.data.pool_id) {
      deps.forget({ uuid: job.data.image_uuid, pool_id: job.data.pool_id }, true);
      deps.changed();
      return 'already gone';
    }
    // A copy in an s3 pool: its keys go from the bucket first, in the same order (files, then row).
    const bucket = deps.pools.s3(o.pool_id);
    if (bucket) {
      await bucket.deleteFiles(filesOf(o));
      deps.forget(o, true);
      deps.changed();
      return 'deleted from the bucket';
    }
    await removeFiles(poolPath(deps, o), filesOf(o));
    deps.forget(o, true);
    deps.changed();
    return 'deleted';
  };
}
