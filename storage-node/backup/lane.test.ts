import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger.js';
import { redisKeys } from '../../shared/redis-keys.js';
import { startRedisServer, type TestRedis } from '../../test/support/redis-server.js';
import { NodeJobs } from '../jobs/queue.js';
import { BACKUP_LANE, backupJob } from './lane.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const until = async (fn: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
};

/** The backup lane's queue behaviour (the options backupLaneOptions sets) against a real Redis. */
describe('backup lane against a real redis-server', () => {
  let server: TestRedis;
  let conn: Redis;
  let jobs: NodeJobs | undefined;
  beforeAll(async () => {
    server = await startRedisServer();
    conn = new Redis(server.url, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    await jobs?.close();
    conn?.disconnect();
    await server?.stop();
  });

  it('its own queue; delays from the due time; a job failed for good is re-added by the periodic resync', async () => {
    const due = new Map<string, number>([
      ['late', Date.now() + 800],
      ['flaky', 0],
    ]);
    const pending = new Set(due.keys());
    const runs: { uuid: string; at: number; attempt: number }[] = [];
    let failures = 0;
    const keys = redisKeys(`t${randomUUID().slice(0, 8)}:`);
    jobs = new NodeJobs({
      role: 'both',
      connection: conn,
      keys,
      nodeId: 's01',
      logger,
      handlers: {
        backup: async (job) => {
          runs.push({ uuid: job.data.image_uuid, at: Date.now(), attempt: job.attemptsMade });
          // Fails more often than it has attempts: only the resync brings it back.
          if (job.data.image_uuid === 'flaky' && failures++ < 4) throw new Error('S3 down');
          pending.delete(job.data.image_uuid);
        },
      },
      pending: () => [...pending].map(backupJob),
      concurrency: 2,
      attempts: 3,
      backoffMs: 20,
      maxBackoffMs: 40,
      lockMs: 1000,
      markerCheckMs: 100,
      lane: BACKUP_LANE,
      jobOptions: (data) => ({ delay: Math.max(0, (due.get(data.image_uuid) ?? 0) - Date.now()), removeOnFail: true }),
      resyncEveryMs: 300,
    });
    expect(jobs.queue.name).toBe('jobs-s01-backup');
    jobs.start();
    await until(() => pending.size === 0);
    const late = runs.filter((r) => r.uuid === 'late');
    expect(late).toHaveLength(1);
    expect(late[0]!.at).toBeGreaterThanOrEqual(due.get('late')!);
    const flaky = runs.filter((r) => r.uuid === 'flaky');
    // 3 attempts, removed, re-added by the resync, 2 more to success.
    expect(flaky.map((r) => r.attempt)).toEqual([0, 1, 2, 0, 1]);
    expect(await conn.exists(`${keys.queueMarker('s01')}-backup`)).toBe(1);
  });
});
