import type { Redis } from 'ioredis';
import type { Logger } from '../../shared/logger.js';
import type { RedisKeys } from '../../shared/redis-keys.js';
import { backupLaneOptions } from '../backup/lane.js';
import type { BackupRecords } from '../backup/records.js';
import type { NodeConfig } from '../config.js';
import { queueSettings } from './connection.js';
import { type JobHandlers, NodeJobs, type NodeJobsOptions } from './queue.js';

/** A lane as one process sees it: the handlers it runs (worker role; none to only add jobs). */
interface LaneOptions {
  handlers?: JobHandlers;
}

export interface NodeQueuesOptions {
  cfg: NodeConfig;
  /** ioredis with `maxRetriesPerRequest: null`, built by the caller (one per process, both lanes share it). */
  connection: Redis;
  keys: RedisKeys;
  logger: Logger;
  role: NodeJobsOptions['role'];
  /** Worker role: a job run of either lane ended. */
  onFinished?: NodeJobsOptions['onFinished'];
  /** The main lane (variants and the coordinator's copy work), rebuilt from `pending`. */
  main: LaneOptions & Pick<NodeJobsOptions, 'pending' | 'registry' | 'onFailed' | 'verifySigned' | 'onOverrun'>;
  /**
   * The backup lane, rebuilt from the node's backup records; leave it out where no pool has a
   * backup target, or where only variant jobs are added (`fennec-node restore`).
   */
  backup?: LaneOptions & { records: BackupRecords };
}

/** The node's job queues: `backup` only when it was asked for. Starting and closing them is the caller's. */
export interface NodeQueues {
  main: NodeJobs;
  backup: NodeJobs | undefined;
}

/**
 * Builds the node's queues the same way in every process that touches them (the main process
 * adds and rebuilds, the worker runs, `fennec-node restore` adds variant jobs), so names,
 * prefix, retries and lanes cannot drift apart between them.
 */
export function createNodeQueues(opts: NodeQueuesOptions): NodeQueues {
  const { cfg } = opts;
  const common = {
    role: opts.role,
    connection: opts.connection,
    keys: opts.keys,
    nodeId: cfg.nodeId,
    logger: opts.logger,
    onFinished: opts.onFinished,
    ...queueSettings(cfg),
  };
  const main = new NodeJobs({
    ...common,
    handlers: opts.main.handlers ?? {},
    pending: opts.main.pending,
    registry: opts.main.registry,
    onFailed: opts.main.onFailed,
    verifySigned: opts.main.verifySigned,
    // Main lane only: a backup of a large original at its capped rate may rightly run for hours.
    timeoutMs: cfg.jobs.timeoutMs,
    onOverrun: opts.main.onOverrun,
  });
  const backup = opts.backup
    ? new NodeJobs({ ...common, handlers: opts.backup.handlers ?? {}, ...backupLaneOptions(cfg, opts.backup.records) })
    : undefined;
  return { main, backup };
}
