import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../shared/redis-keys.js';
import type { NodeQueueCounts } from './deps.js';

const STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'] as const;

/** One BullMQ Queue handle per node, shared by everything that reads or adds to node queues. */
export interface NodeQueues {
  get(nodeId: string): Queue;
  /** Closes every handle (the shared Redis connection stays open); safe to call twice. */
  close(): Promise<void>;
}

export function nodeQueues(opts: { redis: Redis; keys: RedisKeys }): NodeQueues {
  const queues = new Map<string, Queue>();
  return {
    get(nodeId) {
      let q = queues.get(nodeId);
      if (!q) {
        q = new Queue(opts.keys.nodeQueue(nodeId), { connection: opts.redis, prefix: opts.keys.queuePrefix() });
        // Redis errors surface on the calls that fail; the emitter must not crash the process.
        q.on('error', () => undefined);
        queues.set(nodeId, q);
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
 * Reads each node's BullMQ queue (the coordinator never runs jobs: it counts them, and adds the
 * copy work it plans through node-jobs.ts). A Redis outage shows as `counts: null` with the error.
 */
export function queueCounts(opts: { queues: NodeQueues; timeoutMs?: number }) {
  const one = async (nodeId: string): Promise<NodeQueueCounts> => {
    const q = opts.queues.get(nodeId);
    try {
      const counts = await Promise.race([
        q.getJobCounts(...STATES),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('redis timeout')), opts.timeoutMs ?? 2000).unref()),
      ]);
      return { node_id: nodeId, queue: q.name, counts };
    } catch (err) {
      return { node_id: nodeId, queue: q.name, counts: null, error: (err as Error).message };
    }
  };
  return {
    counts: (nodeIds: string[]) => Promise.all(nodeIds.map(one)),
    close: () => opts.queues.close(),
  };
}
