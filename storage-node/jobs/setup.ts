import { Gauge } from 'prom-client';
import type { Logger } from '../../shared/logger.js';
import type { RedisKeys } from '../../shared/redis-keys.js';
import { hasBackups } from '../backup/lane.js';
import { createBackupRecords } from '../backup/records.js';
import type { NodeConfig } from '../config.js';
import type { Db } from '../db/open.js';
import type { ObjectRow } from '../db/store.js';
import type { NodeMetrics } from '../metrics.js';
import { jobsConnection } from './connection.js';
import { createImageState } from './image-state.js';
import { type JobKind, nextVariantJob } from './kinds.js';
import { createNodeQueues } from './node-queues.js';
import type { NodeJobs } from './queue.js';

export interface NodeJobsSetup {
  jobs: NodeJobs;
  /** The upload path's hook: queue the thumbnails job of a just-stored image. */
  onStored: (row: ObjectRow) => void;
  /** A job run the worker process reported. */
  recordFinished: (kind: JobKind, outcome: 'completed' | 'retried' | 'failed') => void;
  start(): void;
  /** Closes the queue and its Redis connection (safe twice). */
  close(): Promise<void>;
}

/**
 * The main process's side of the node's jobs: the queue (adding work after each upload,
 * rebuilding it from SQLite, counting it). The handlers run in the worker process
 * (jobs/worker-process.ts), which this process supervises; sharp is never loaded here.
 */
export function setupNodeJobs(opts: { cfg: NodeConfig; db: Db; logger: Logger; metrics: NodeMetrics; keys: RedisKeys }): NodeJobsSetup {
  const { cfg } = opts;
  const connection = jobsConnection(cfg.redisUrl);
  // Only `pending()` is used here; state changes are the worker's.
  const state = createImageState(
    opts.db,
    cfg.nodeId,
    () => undefined,
    () => undefined,
  );
  // Backups have their own queue, rebuilt from SQLite with each job's remaining delay.
  const backupRecords = hasBackups(cfg) ? createBackupRecords(opts.db, cfg.nodeId) : undefined;
  if (backupRecords)
    new Gauge({
      name: 'fennec_node_backups_pending',
      help: 'Originals waiting for their S3 backup (delayed, queued or retrying), from SQLite',
      registers: [opts.metrics.registry],
      collect() {
        this.set(backupRecords.count('pending'));
      },
    });
  const { main: jobs, backup: backupJobs } = createNodeQueues({
    cfg,
    connection,
    keys: opts.keys,
    logger: opts.logger,
    role: 'queue',
    main: { pending: () => state.pending().map(nextVariantJob), registry: opts.metrics.registry },
    backup: backupRecords && { records: backupRecords },
  });
  let closing: Promise<void> | undefined;
  return {
    jobs,
    onStored: (row) => jobs.enqueueSoon(nextVariantJob({ uuid: row.uuid, thumbnails_ready: 0 })),
    recordFinished: (kind, outcome) => jobs.recordFinished(kind, outcome),
    start() {
      connection.connect().catch(() => undefined);
      jobs.start();
      backupJobs?.start();
    },
    close() {
      closing ??= (async () => {
        await jobs.close();
        await backupJobs?.close();
        await connection.quit().catch(() => connection.disconnect());
      })();
      return closing;
    },
  };
}
