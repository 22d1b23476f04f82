import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../shared/redis-keys.js';
import type { NodeQueueCounts } from './deps.js';

const STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'] as const;

/**
 * Reads each node's BullMQ queue (the coordinator never runs jobs: it only counts them).
 * Queue handles are cached per node; a Redis outage shows as `counts: null` with the error.
 */
export function queueCounts(opts: { redis: Redis; keys: RedisKeys; timeoutMs?: number }) {
  const queues = new Map<string, Queue>();
  const queueFor = (nodeId: string) => {
    let q = queues.get(nodeId);
    if (!q) {
      q = new Queue(opts.keys.nodeQueue(nodeId), { connection: opts.redis, prefix: opts.keys.queuePrefix() });
      q.on('error', () => undefined);
      queues.set(nodeId, q);
    }
    return q;
  };
  const one = async (nodeId: string): Promise<NodeQueueCounts> => {
    const q = queueFor(nodeId);
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
    async close(): Promise<void> {
      await Promise.all([...queues.values()].map((q) => q.close().catch(() => undefined)));
    },
  };
}
