import type { JobLane } from './jobs.js';

/** Every Redis key Fennec uses is built here, so the layout is readable in one file. */
export interface RedisKeys {
  /** Hash written by a node's heartbeat, expiring after about three beats. */
  node(nodeId: string): string;
  /** Set of node ids that have ever heartbeated (members whose hash expired are simply skipped). */
  nodesIndex(): string;
  /** Key prefix for rate-limit counters of one limiter. */
  rateLimit(name: string): string;
  /** BullMQ's `prefix` option for job queues (BullMQ appends `:{queue}:…` itself). */
  queuePrefix(): string;
  /**
   * A job queue of one node (`jobs-{node}`, the backup lane `jobs-{node}-backup`): its workers
   * take only these jobs, so a job runs where its files are.
   */
  nodeQueue(nodeId: string, lane?: JobLane): string;
  /**
   * Set by a node once the pending jobs of one of its queues are in Redis; gone means Redis lost
   * them (FLUSHALL, a restart without persistence) and the node re-enqueues from its SQLite.
   */
  queueMarker(nodeId: string, lane?: JobLane): string;
}

export const DEFAULT_REDIS_PREFIX = 'fennec:';

const laneSuffix = (lane: JobLane) => (lane === 'main' ? '' : `-${lane}`);

export function redisKeys(prefix: string = DEFAULT_REDIS_PREFIX): RedisKeys {
  return {
    node: (nodeId) => `${prefix}node:${nodeId}`,
    nodesIndex: () => `${prefix}nodes`,
    rateLimit: (name) => `${prefix}rl:${name}`,
    queuePrefix: () => `${prefix}bull`,
    nodeQueue: (nodeId, lane = 'main') => `jobs-${nodeId}${laneSuffix(lane)}`,
    queueMarker: (nodeId, lane = 'main') => `${prefix}queue-marker:${nodeId}${laneSuffix(lane)}`,
  };
}
