import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config.js';
import { createLogger } from '../../shared/logger.js';
import { redisKeys } from '../../shared/redis-keys.js';
import { startRedisServer, type TestRedis } from '../../test/support/redis-server.js';
import { backupJob } from '../backup/lane.js';
import type { BackupRecords } from '../backup/records.js';
import { nodeConfigSchema } from '../config.js';
import { createNodeQueues, type NodeQueues } from './node-queues.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const cfg = parseConfig(nodeConfigSchema, {
  FENNEC_NODE_ID: 's01',
  FENNEC_POOLS: JSON.stringify([{ id: 'p1', tier: 'hot', path: '/srv/p1', public_base_url: 'http://127.0.0.1:8081' }]),
  FENNEC_STATE_DIR: '/var/lib/fennec',
  FENNEC_NODE_KEY_FILE: '/etc/fennec/node.pem',
  FENNEC_COORDINATOR_URL: 'https://coord:8080/',
});
const noBackups = { pending: () => [], get: () => undefined } as unknown as BackupRecords;

describe('createNodeQueues against a real redis-server', () => {
  let server: TestRedis;
  let conn: Redis;
  const built: NodeQueues[] = [];
  beforeAll(async () => {
    server = await startRedisServer();
    conn = new Redis(server.url, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    for (const q of built) {
      await q.main.close();
      await q.backup?.close();
    }
    conn?.disconnect();
    await server?.stop();
  });

  it('builds the main queue, and the backup lane only when asked, under the names redis-keys gives', () => {
    const keys = redisKeys(`t${randomUUID().slice(0, 8)}:`);
    const only = createNodeQueues({ cfg, connection: conn, keys, logger, role: 'queue', main: { pending: () => [] } });
    const both = createNodeQueues({
      cfg,
      connection: conn,
      keys,
      logger,
      role: 'queue',
      main: { pending: () => [] },
      backup: { records: noBackups },
    });
    built.push(only, both);
    expect(only.main.queue.name).toBe(keys.nodeQueue('s01'));
    expect(only.backup).toBeUndefined();
    expect([both.main.queue.name, both.backup?.queue.name]).toEqual(['jobs-s01', 'jobs-s01-backup']);
    expect(both.main.queue.opts.prefix).toBe(keys.queuePrefix());
  });

  it('each lane runs its own kinds with its handlers', async () => {
    const ran: string[] = [];
    const q = createNodeQueues({
      cfg,
      connection: conn,
      keys: redisKeys(`t${randomUUID().slice(0, 8)}:`),
      logger,
      role: 'both',
      main: { handlers: { variants: async (job) => void ran.push(`main:${job.data.phase}`) }, pending: () => [] },
      backup: { records: noBackups, handlers: { backup: async (job) => void ran.push(`backup:${job.data.image_uuid}`) } },
    });
    built.push(q);
    await q.main.enqueue({ kind: 'variants', image_uuid: 'v1', phase: 'thumbnails' });
    await q.backup!.enqueue(backupJob('b1'));
    q.main.start();
    q.backup!.start();
    const end = Date.now() + 10_000;
    while (ran.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
    expect(ran.sort()).toEqual(['backup:b1', 'main:thumbnails']);
  });
});
