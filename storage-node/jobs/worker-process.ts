import type { KeyObject } from 'node:crypto';
import sharp from 'sharp';
import type { Logger } from '../../shared/logger.js';
import { createShutdown } from '../../shared/shutdown.js';
import { backupDeleteHandler } from '../backup/delete.js';
import { backupDestinations } from '../backup/destinations.js';
import { type BackupDestination, backupHandler } from '../backup/job.js';
import { backupJob, hasBackups } from '../backup/lane.js';
import { createBackupRecords } from '../backup/records.js';
import { composeNodeCore } from '../compose-core.js';
import type { NodeConfig } from '../config.js';
import type { Db } from '../db/open.js';
import type { PoolSet } from '../pools.js';
import { localObjects } from '../replication/local-objects.js';
import { moveItemReporter } from '../replication/move-report.js';
import { createScrubRecords } from '../scrub/records.js';
import { startScrubber } from '../scrub/scrubber.js';
import { TokenBucket } from '../throttle.js';
import { DEFAULT_RECIPE } from '../variants/recipe.js';
import { jobsConnection } from './connection.js';
import { type CopyJobDeps, deleteHandler, moveHandler, replicateHandler } from './copy-jobs.js';
import { createImageState } from './image-state.js';
import { workerJobAuth } from './job-auth.js';
import { createNodeQueues, type NodeQueuesOptions } from './node-queues.js';
import type { NodeJobs } from './queue.js';
import { restoreHandler, restoreJobDeps } from './restore-job.js';
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
  const core = composeNodeCore(cfg, logger);
  const { db, pools } = core;
  const connection = jobsConnection(cfg.redisUrl);
  const backupDelays = new Map(cfg.pools.flatMap((p) => (p.backup ? [[p.id, p.backup.delay_seconds * 1000] as const] : [])));
  let backupJobs: NodeJobs | undefined;
  const state = createImageState(
    db,
    cfg.nodeId,
    () => send({ t: 'outbox' }),
    (event) => send({ t: 'processed', outcome: event.replace(/^image\./, '') }),
    {
      delayMsFor: (poolId) => backupDelays.get(poolId),
      // Right away (with its delay); if Redis is down now, the main process's resync adds it.
      onScheduled: (uuid) => void backupJobs?.enqueue(backupJob(uuid)),
    },
  );
  const recipes = new Map(cfg.pools.map((p) => [p.id, p.variants ?? DEFAULT_RECIPE]));
  let jobs: NodeJobs;
  const handler = variantsHandler({
    state,
    pools,
    logger,
    recipeFor: (poolId) => recipes.get(poolId) ?? DEFAULT_RECIPE,
    maxPixels: cfg.jobs.maxPixels,
    parallel: cfg.jobs.variantParallel,
    enqueue: (data) => jobs.enqueue(data),
    onWritten: (variant, seconds) => send({ t: 'encoded', variant, seconds }),
    onPhase: (phase, seconds) => send({ t: 'phase', phase, seconds }),
  });
  const copies = copyJobDeps(cfg, { db, pools, logger, send, nodeKey: core.nodeKey.privateKey });
  const destinations = backupDestinations(cfg);
  const jobAuth = workerJobAuth(cfg, logger);
  const queues = createNodeQueues({
    cfg,
    connection,
    keys: core.keys,
    logger,
    role: 'worker',
    onFinished: (kind, outcome) => send({ t: 'finished', kind, outcome }),
    main: {
      handlers: {
        variants: handler,
        replicate: replicateHandler(copies),
        move: moveHandler(copies),
        delete: deleteHandler(copies),
        restore: restoreHandler(restoreJobDeps(cfg, { db, pools, logger, enqueue: (data) => jobs.enqueue(data), changed: copies.changed })),
        backup_delete: backupDeleteHandler({
          db,
          nodeId: cfg.nodeId,
          logger,
          destinationFor: (poolId) => destinations.get(poolId),
          wakeOutbox: () => send({ t: 'outbox' }),
        }),
      },
      pending: () => state.pending().map(nextVariantJob),
      // A sharp/libvips encode cannot be interrupted from JS: the process ends instead (its
      // supervisor, or systemd for an external worker, starts it again). The job stalls, runs
      // again after its lock, and after maxStalledCount overruns BullMQ fails it and onFailed
      // below marks the image failed.
      onOverrun: ({ id, kind, ms }) => {
        logger.error({ job_id: id, kind, timeout_ms: ms }, 'job overran its time limit; ending the job worker');
        process.exit(EXIT_JOB_OVERRUN);
      },
      verifySigned: jobAuth.verify,
      // Monotonic: a no-op when the handler already recorded the failure (or the image is ready).
      onFailed: (data, reason) => {
        if (data.kind === 'variants') state.failed(data.image_uuid, reason);
      },
    },
    backup: backupLane(cfg, { db, pools, logger, send, destinations }),
  });
  jobs = queues.main;
  backupJobs = queues.backup;
  connection.connect().catch(() => undefined);
  jobs.start();
  backupJobs?.start();
  // Scrub lives here, not in the upload process: hashing at its capped rate never competes
  // with an upload's event loop, and its repairs are this process's copy jobs anyway.
  const scrubber = startScrubber({
    db,
    pools,
    nodeId: cfg.nodeId,
    logger,
    cron: cfg.scrub.cron,
    bytesPerSec: cfg.scrub.bytesPerSec,
    wakeOutbox: () => send({ t: 'outbox' }),
    onReport: send,
  });
  logger.info({ pid: process.pid }, 'job worker started');

  let stopping: (() => Promise<void>) | undefined;
  const stop = (why: string) => {
    if (stopping) return;
    logger.info({ why }, 'job worker stopping');
    // The whole drain is bounded once, by why it stops; each step may use all of it.
    const drainMs = why === 'SIGTERM' && connection.status === 'ready' ? DRAIN_MS : GONE_MS;
    forceExitAfter(drainMs, logger);
    stopping = createShutdown(logger, [
      { name: 'scrub', run: () => scrubber.stop() },
      { name: 'job-auth', run: () => jobAuth.stop() },
      { name: 'jobs', run: () => jobs.close(), timeoutMs: drainMs },
      { name: 'backup-jobs', run: () => backupJobs?.close(), timeoutMs: drainMs },
      { name: 'redis', run: () => connection.quit().catch(() => connection.disconnect()) },
      { name: 'sqlite', run: () => db.close() },
    ]);
    void stopping().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => undefined); // Ctrl-C reaches the whole group: the parent decides
  process.on('disconnect', () => stop('parent gone'));
}

/**
 * How long a stopping worker waits for its running jobs. SIGTERM with Redis up: long enough for
 * a large copy or backup, and under the supervisor's 60 s SIGKILL. Redis gone (Ctrl-C on
 * `npm start` stops it in the same breath) or the parent gone: BullMQ's close would wait for
 * Redis forever and leave an orphan, so only a moment. A job cut short is stalled and runs again
 * elsewhere or later (every job is idempotent).
 */
const DRAIN_MS = 45_000;
/** Exit status of a worker that ended itself on an overrun job (EX_SOFTWARE). */
export const EXIT_JOB_OVERRUN = 70;
const GONE_MS = 2_000;

function forceExitAfter(ms: number, logger: Logger): void {
  setTimeout(() => {
    logger.warn({ after_ms: ms }, 'job worker did not stop in time; exiting anyway');
    process.exit(1);
  }, ms);
}

/** The replicate, move and delete jobs' deps: the node's key signs every PUT and move report. */
function copyJobDeps(
  cfg: NodeConfig,
  ctx: { db: Db; pools: PoolSet; logger: Logger; send: (msg: WorkerMessage) => void; nodeKey: KeyObject },
): CopyJobDeps {
  const { nodeKey } = ctx;
  const objects = localObjects(ctx.db, cfg.nodeId);
  const scrub = createScrubRecords(ctx.db, cfg.nodeId);
  return {
    nodeId: cfg.nodeId,
    pools: ctx.pools,
    logger: ctx.logger,
    sender: {
      nodeId: cfg.nodeId,
      nodeKey,
      bucket: cfg.replicationBytesPerSec > 0 ? new TokenBucket(cfg.replicationBytesPerSec) : undefined,
    },
    getObject: objects.get,
    markBad: (o, reason) => void scrub.markBad({ ...o, rid: 0 }, reason, Date.now()),
    forget: objects.forget,
    setPool: objects.setPool,
    reportMoveItem: moveItemReporter({ nodeId: cfg.nodeId, nodeKey, coordinatorUrl: cfg.coordinatorUrl }),
    changed: () => {
      ctx.send({ t: 'outbox' });
      ctx.send({ t: 'objects-changed' });
    },
  };
}

/** The backup lane's handler: one S3 client per pool with a target, the pools' limits inside. */
function backupLane(
  cfg: NodeConfig,
  ctx: {
    db: Db;
    pools: PoolSet;
    logger: Logger;
    send: (msg: WorkerMessage) => void;
    destinations: Map<string, BackupDestination>;
  },
): NodeQueuesOptions['backup'] {
  if (!hasBackups(cfg)) return undefined;
  const records = createBackupRecords(ctx.db, cfg.nodeId);
  return {
    records,
    handlers: {
      backup: backupHandler({
        records,
        pools: ctx.pools,
        logger: ctx.logger,
        destinationFor: (poolId) => ctx.destinations.get(poolId),
        wakeOutbox: () => ctx.send({ t: 'outbox' }),
      }),
    },
  };
}
