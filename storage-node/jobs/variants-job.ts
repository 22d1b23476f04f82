import fs from 'node:fs/promises';
import path from 'node:path';
import { type Job, UnrecoverableError } from 'bullmq';
import type { VariantFileInfo } from '../../shared/api.js';
import { isAppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { PoolSet } from '../pools.js';
import { type PipelineJob, probe, runPhase } from '../variants/pipeline.js';
import { planVariants, type VariantRecipe } from '../variants/recipe.js';
import type { ImageState, ImageWork } from './image-state.js';
import type { JobData, JobOf } from './kinds.js';

export interface VariantsJobDeps {
  state: ImageState;
  pools: PoolSet;
  logger: Logger;
  recipeFor: (poolId: string) => VariantRecipe;
  maxPixels: number;
  parallel: number;
  enqueue: (data: JobData) => Promise<boolean>;
  /** Timings for /metrics: each output, and each whole phase. */
  onWritten?: (variant: string, seconds: number) => void;
  onPhase?: (phase: 'thumbnails' | 'full', seconds: number) => void;
}

export { nextVariantJob } from './kinds.js';

/**
 * The `variants` job: thumbnails phase (then queues the full-size phase at a lower priority) or
 * full-size phase (then the image is ready). Idempotent: it starts from SQLite's state, so a
 * stalled job run again, or one added twice after a Redis flush, makes the same files.
 * A bad image (bomb, corrupt, unsupported) fails at once; other errors retry with backoff and
 * the image is marked failed only after the last attempt.
 */
export function variantsHandler(deps: VariantsJobDeps) {
  return async function variantsJob(job: Job<JobOf<'variants'>>): Promise<string> {
    const uuid = job.data.image_uuid;
    const work = deps.state.get(uuid);
    if (!work || work.status !== 'processing') return 'nothing to do';
    // Only finished objects move into a bucket; never fail one there for want of a directory.
    if (deps.pools.s3(work.pool_id)) return 'in an s3 pool: nothing to make';
    try {
      return await runVariants(deps, work, job.data.phase);
    } catch (err) {
      const reason = (err as Error).message;
      const permanent = isAppError(err) && !err.retryable;
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (permanent || last) {
        deps.state.failed(uuid, reason);
        deps.logger.warn({ image_uuid: uuid, reason, attempts: job.attemptsMade + 1 }, 'variants failed');
      }
      throw permanent ? new UnrecoverableError(reason) : err;
    }
  };
}

async function runVariants(deps: VariantsJobDeps, work: ImageWork, phase: 'thumbnails' | 'full'): Promise<string> {
  const pool = deps.pools.get(work.pool_id);
  if (!pool) throw new UnrecoverableError(`pool ${work.pool_id} is not on this node`);
  const ext = work.rel_path.slice(work.rel_path.lastIndexOf('.') + 1);
  const recipe = deps.recipeFor(work.pool_id);
  const pj: PipelineJob = {
    uuid: work.uuid,
    poolPath: pool.config.path,
    originalRelPath: work.rel_path,
    recipe,
    maxPixels: deps.maxPixels,
    parallel: deps.parallel,
    onWritten: deps.onWritten,
  };
  const info = await probe(pj);
  const dims = { width: info.width, height: info.height, format: info.format };
  const plan = planVariants(recipe, ext);
  const full = plan.filter((v) => v.phase === 'full');
  let thumbs = JSON.parse(work.variants) as VariantFileInfo[];
  if (!work.thumbnails_ready) {
    const t0 = Date.now();
    thumbs = await runPhase(
      pj,
      plan.filter((v) => v.phase === 'thumbnails'),
    );
    if (await deletedMeanwhile(deps, work, pool.config.path, thumbs)) return 'image deleted meanwhile';
    deps.onPhase?.('thumbnails', (Date.now() - t0) / 1000);
    deps.logger.debug({ image_uuid: work.uuid, ms: Date.now() - t0, files: thumbs.length }, 'thumbnails made');
    if (full.length > 0) {
      deps.state.thumbnailsReady(work.uuid, dims, thumbs);
      // Full size waits behind every queued thumbnail; if Redis is down now, the resync adds it.
      if (phase === 'thumbnails') {
        await deps.enqueue({ kind: 'variants', image_uuid: work.uuid, phase: 'full' });
        return 'thumbnails';
      }
    }
  }
  const t0 = Date.now();
  const fullFiles = await runPhase(pj, full);
  if (await deletedMeanwhile(deps, work, pool.config.path, fullFiles)) return 'image deleted meanwhile';
  if (full.length > 0) deps.onPhase?.('full', (Date.now() - t0) / 1000);
  deps.state.ready(work.uuid, dims, [...thumbs, ...fullFiles]);
  deps.logger.info({ image_uuid: work.uuid, ms: Date.now() - t0, variants: thumbs.length + fullFiles.length }, 'image ready');
  return 'ready';
}

/**
 * The image was deleted while this phase encoded (its delete job removed the original, the
 * variants recorded so far and the row): the files just written belong to nobody, so they go too.
 */
async function deletedMeanwhile(deps: VariantsJobDeps, work: ImageWork, poolPath: string, written: VariantFileInfo[]): Promise<boolean> {
  if (deps.state.get(work.uuid)) return false;
  await Promise.all(written.map((f) => fs.rm(path.join(poolPath, ...f.rel_path.split('/')), { force: true })));
  deps.logger.info({ image_uuid: work.uuid, files: written.length }, 'image deleted while its variants were made; removed them');
  return true;
}
