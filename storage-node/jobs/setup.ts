import { Redis } from 'ioredis';
import sharp from 'sharp';
import type { Logger } from '../../shared/logger.js';
import type { RedisKeys } from '../../shared/redis-keys.js';
import type { NodeConfig } from '../config.js';
import type { Db } from '../db.js';
import type { NodeMetrics } from '../metrics.js';
import type { PoolSet } from '../pools.js';
import type { ObjectRow } from '../store.js';
import { DEFAULT_RECIPE } from '../variants/recipe.js';
import { createImageState, type ImageState } from './image-state.js';
import { NodeJobs } from './queue.js';
import { nextVariantJob, variantsHandler } from './variants-job.js';

export interface NodeJobsSetup {
  jobs: NodeJobs;
  state: ImageState;
  /** The upload path's hook: queue the thumbnails job of a just-stored image. */
  onStored: (row: ObjectRow) => void;
  start(): void;
  /** Drains running jobs, then closes Redis (safe twice). */
  close(): Promise<void>;
}

/** Builds the node's job queue, its worker and the variant handler (called from main.ts only). */
export function setupNodeJobs(opts: {
  cfg: NodeConfig;
  db: Db;
  pools: PoolSet;
  logger: Logger;
  metrics: NodeMetrics;
  keys: RedisKeys;
  wakeOutbox: () => void;
}): NodeJobsSetup {
  const { cfg, logger } = opts;
  // One libvips thread per encode: parallelism comes from encoding outputs side by side, sized
  // by FENNEC_VARIANT_PARALLEL, so the CPU budget is one number the operator sets.
  sharp.concurrency(1);
  // Unlike the fail-fast client for heartbeats, BullMQ needs a connection that waits
  // (maxRetriesPerRequest: null) so a worker rides out a Redis restart.
  const connection = new Redis(cfg.redisUrl, {
    maxRetriesPerRequest: null,
    lazyConnect: true,
    retryStrategy: (times) => Math.min(times * 200, 1000),
  });
  connection.on('error', () => undefined); // the heartbeat reports outages
  const { metrics } = opts;
  const state = createImageState(opts.db, cfg.nodeId, opts.wakeOutbox, (event) =>
    metrics.imagesProcessed.inc({ outcome: event.replace(/^image\./, '') }),
  );
  const recipes = new Map(cfg.pools.map((p) => [p.id, p.variants ?? DEFAULT_RECIPE]));
  let jobs: NodeJobs;
  const handler = variantsHandler({
    state,
    pools: opts.pools,
    logger,
    recipeFor: (poolId) => recipes.get(poolId) ?? DEFAULT_RECIPE,
    maxPixels: cfg.jobs.maxPixels,
    parallel: cfg.jobs.variantParallel,
    enqueue: (data) => jobs.enqueue(data),
    onWritten: (variant, seconds) => metrics.variantEncodeDuration.observe({ variant }, seconds),
    onPhase: (phase, seconds) => metrics.variantPhaseDuration.observe({ phase }, seconds),
  });
  jobs = new NodeJobs({
    connection,
    keys: opts.keys,
    nodeId: cfg.nodeId,
    logger,
    handlers: { variants: handler },
    pending: () => state.pending().map(nextVariantJob),
    concurrency: cfg.jobs.concurrency,
    attempts: cfg.jobs.attempts,
    backoffMs: cfg.jobs.backoffMs,
    lockMs: cfg.jobs.lockMs,
    markerCheckMs: cfg.jobs.markerCheckMs,
    registry: opts.metrics.registry,
    // Monotonic: a no-op when the handler already recorded the failure (or the image is ready).
    onFailed: (data, reason) => {
      if (data.kind === 'variants') state.failed(data.image_uuid, reason);
    },
  });
  let closing: Promise<void> | undefined;
  return {
    jobs,
    state,
    onStored: (row) => jobs.enqueueSoon(nextVariantJob({ uuid: row.uuid, thumbnails_ready: 0 })),
    start() {
      connection.connect().catch(() => undefined);
      jobs.start();
    },
    close() {
      closing ??= (async () => {
        await jobs.close();
        await connection.quit().catch(() => connection.disconnect());
      })();
      return closing;
    },
  };
}
