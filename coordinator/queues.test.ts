import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../shared/redis-keys.js';
import { startRedisServer, type TestRedis } from '../test/support/redis-server.js';
import { nodeQueues, queueCounts } from './queues.js';

describe('queueCounts against a real redis-server', () => {
  let server: TestRedis;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    redis = new Redis(server.url, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it("counts a node's backup lane with its main queue, and shows each lane", async () => {
    const keys = redisKeys('tq:');
    // As the node adds them: a variants job in its main queue, a backup waiting for its delay in the backup lane.
    const main = new Queue(keys.nodeQueue('n1'), { connection: redis, prefix: keys.queuePrefix() });
    const backup = new Queue(keys.nodeQueue('n1', 'backup'), { connection: redis, prefix: keys.queuePrefix() });
    expect([main.name, backup.name]).toEqual(['jobs-n1', 'jobs-n1-backup']);
    await main.add('variants', { kind: 'variants', image_uuid: 'a', phase: 'thumbnails' });
    await backup.add('backup', { kind: 'backup', image_uuid: 'a' }, { delay: 60_000 });
    await backup.add('backup', { kind: 'backup', image_uuid: 'b' }, { delay: 60_000 });
    const counts = queueCounts({ queues: nodeQueues({ redis, keys }) });
    try {
      const [n1, n2] = await counts.counts(['n1', 'n2']);
      expect(n1).toMatchObject({
        node_id: 'n1',
        queue: 'jobs-n1',
        counts: { waiting: 1, delayed: 2, active: 0, failed: 0 },
        lanes: { main: { waiting: 1, delayed: 0 }, backup: { waiting: 0, delayed: 2 } },
      });
      expect(n2).toMatchObject({ node_id: 'n2', queue: 'jobs-n2', counts: { waiting: 0, delayed: 0 } });
    } finally {
      await counts.close();
      await main.close();
      await backup.close();
    }
  });
});
