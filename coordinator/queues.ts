import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { JOB_LANES, type JobLane } from '../shared/jobs.js';
import type { RedisKeys } from '../shared/redis-keys.js';
import type { NodeQueueCounts } from './deps.js';

const STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'] as const;

/** One BullMQ Queue handle per node and lane, shared by everything that reads or adds to node queues. */
export interface NodeQueues {
  /** The node's queue of `lane` (default: its main queue). */
  get(nodeId: string, lane?: JobLane): Queue;
  /** Closes every handle (the shared Redis connection stays open); safe to call twice. */
  close(): Promise<void>;
}

export function nodeQueues(opts: { redis: Redis; keys: RedisKeys }): NodeQueues {
  const queues = new Map<string, Queue>();
  return {
    get(nodeId, lane = 'main') {
      const name = opts.keys.nodeQueue(nodeId, lane);
      let q = queues.get(name);
      if (!q) {
        q = new Queue(name, { connection: opts.redis, prefix: opts.keys.queuePrefix() });
        // Redis errors surface on the calls that fail; the emitter must not crash the process.
        q.on('error', () => undefined);
        queues.set(name, q);
      }
      return q;
    },
    async close() {
      const all = [...queues.values()];
      queues.clear();
      await Promise.all(all.map((q) => q.close().catch(() => undefined)));
    },
  };
}

/**
 * Reads each node's BullMQ queues (the coordinator never runs jobs: it counts them, and adds the
 * copy work it plans through node-jobs.ts). A node's `counts` are those of all its lanes
 * together, `lanes` has each one. A Redis outage shows as `counts: null` with the error.
 */
export function queueCounts(opts: { queues: NodeQueues; timeoutMs?: number }) {
  const one = async (nodeId: string): Promise<NodeQueueCounts> => {
    const main = opts.queues.get(nodeId);
    try {
      const perLane = await Promise.race([
        Promise.all(JOB_LANES.map((lane) => opts.queues.get(nodeId, lane).getJobCounts(...STATES))),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('redis timeout')), opts.timeoutMs ?? 2000).unref()),
      ]);
      const counts: Record<string, number> = {};
      for (const lane of perLane) for (const [state, n] of Object.entries(lane)) counts[state] = (counts[state] ?? 0) + n;
      const lanes = Object.fromEntries(JOB_LANES.map((lane, i) => [lane, perLane[i]!]));
      return { node_id: nodeId, queue: main.name, counts, lanes };
    } catch (err) {
      return { node_id: nodeId, queue: main.name, counts: null, error: (err as Error).message };
    }
  };
  return {
    counts: (nodeIds: string[]) => Promise.all(nodeIds.map(one)),
    close: () => opts.queues.close(),
  };
}
