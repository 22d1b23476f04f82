import path from 'node:path';
import sharp from 'sharp';
import type { Logger } from '../../shared/logger.js';
import { redisKeys } from '../../shared/redis-keys.js';
import type { NodeConfig } from '../config.js';
import { openDb } from '../db.js';
import { PoolSet } from '../pools.js';
import { DEFAULT_RECIPE } from '../variants/recipe.js';
import { jobsConnection, queueSettings } from './connection.js';
import { createImageState } from './image-state.js';
import { NodeJobs } from './queue.js';
import { nextVariantJob, variantsHandler } from './variants-job.js';
import type { WorkerMessage } from './worker-messages.js';

/**
 * `fennec-node worker`: the process that runs the node's jobs (started and watched by the main
 * process, never by hand). It shares the node's SQLite (WAL: one writer at a time, readers
 * beside it) and reports over IPC. It exits when asked (SIGTERM: running jobs finish first) or
 * when its parent is gone.
 */
export async function runJobWorker(cfg: NodeConfig, logger: Logger): Promise<void> {
  const send = (msg: WorkerMessage) => {
    if (process.connected) process.send?.(msg);
  };
  // One libvips thread per encode: parallelism comes from encoding outputs side by side, sized
  // by FENNEC_VARIANT_PARALLEL, so the CPU budget is one number the operator sets.
  sharp.concurrency(1);
  const db = openDb(path.join(cfg.stateDir, 'node.db'));
  const connection = jobsConnection(cfg.redisUrl);
  const state = createImageState(db, cfg.nodeId, () => send({ t: 'outbox' }), (event) =>
    send({ t: 'processed', outcome: event.replace(/^image\./, '') }),
  );
  const recipes = new Map(cfg.pools.map((p) => [p.id, p.variants ?? DEFAULT_RECIPE]));
  let jobs: NodeJobs;
  const handler = variantsHandler({
    state,
    pools: new PoolSet(cfg.pools),
    logger,
    recipeFor: (poolId) => recipes.get(poolId) ?? DEFAULT_RECIPE,
    maxPixels: cfg.jobs.maxPixels,
    parallel: cfg.jobs.variantParallel,
    enqueue: (data) => jobs.enqueue(data),
    onWritten: (variant, seconds) => send({ t: 'encoded', variant, seconds }),
    onPhase: (phase, seconds) => send({ t: 'phase', phase, seconds }),
  });
  jobs = new NodeJobs({
    role: 'worker',
    connection,
    keys: redisKeys(cfg.redisPrefix),
    nodeId: cfg.nodeId,
    logger,
    handlers: { variants: handler },
    pending: () => state.pending().map(nextVariantJob),
    ...queueSettings(cfg),
    onFinished: (kind, outcome) => send({ t: 'finished', kind, outcome }),
    // Monotonic: a no-op when the handler already recorded the failure (or the image is ready).
    onFailed: (data, reason) => {
      if (data.kind === 'variants') state.failed(data.image_uuid, reason);
    },
  });
  connection.connect().catch(() => undefined);
  jobs.start();
  logger.info({ pid: process.pid }, 'job worker started');

  let stopping: Promise<void> | undefined;
  const stop = (why: string) => {
    stopping ??= (async () => {
      logger.info({ why }, 'job worker stopping');
      await jobs.close();
      await connection.quit().catch(() => connection.disconnect());
      db.close();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => undefined); // Ctrl-C reaches the whole group: the parent decides
  process.on('disconnect', () => stop('parent gone'));
}
