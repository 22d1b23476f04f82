import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../scripts/cluster/ports.js';
import { UPLOAD_PATH } from '../shared/api.js';
import { decodeHeartbeat } from '../shared/heartbeat.js';
import { createLogger } from '../shared/logger.js';
import { redisKeys } from '../shared/redis-keys.js';
import { startRedisServer, type TestRedis } from '../test/support/redis-server.js';
import { type Db, openDb } from './db/open.js';
import { createStore } from './db/store.js';
import { Heartbeat } from './heartbeat.js';
import { createMetrics } from './metrics.js';
import { PoolSet, preparePool } from './pools.js';
import { createRateLimit } from './rate-limit.js';

const nodeRedis = (port: number) =>
  new Redis({ port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 200 });

let testRedis: TestRedis;
let dir: string;
let port: number;
let db: Db;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hb-'));
  testRedis = await startRedisServer();
  port = testRedis.port;
  db = openDb(':memory:');
});

afterAll(async () => {
  db.close();
  await testRedis.stop();
  rmSync(dir, { recursive: true, force: true });
});

function heartbeat(redis: Redis, prefix: string, metrics = createMetrics({ defaults: false })) {
  const pool = { id: 'p1', tier: 'hot' as const, path: path.join(dir, 'p1'), public_base_url: 'http://n1.test', max_bytes: 10_000 };
  preparePool(pool);
  return new Heartbeat({
    redis,
    keys: redisKeys(prefix),
    logger: createLogger({ name: 't', level: 'silent' }),
    metrics,
    pools: new PoolSet([pool]),
    store: createStore(db),
    nodeId: 'n1',
    version: '0.0.0-test',
    publicUrl: 'http://n1.test:8081',
    intervalMs: 200,
    activeUploads: () => 2,
    queueDepth: () => 0,
  });
}

describe('Heartbeat', () => {
  it('writes the node hash with a 3-beat TTL, indexes the node, and deletes the key on stop', async () => {
    const redis = nodeRedis(port);
    await redis.connect();
    const prefix = `t${Date.now()}:`;
    const hb = heartbeat(redis, prefix);
    hb.start();
    const key = redisKeys(prefix).node('n1');
    for (let i = 0; i < 50 && !(await redis.exists(key)); i++) await new Promise((r) => setTimeout(r, 20));
    const decoded = decodeHeartbeat(await redis.hgetall(key))!;
    expect(decoded).toMatchObject({
      node_id: 'n1',
      upload_api_url: `http://n1.test:8081${UPLOAD_PATH}`,
      active_uploads: 2,
      accepting: true,
    });
    expect(decoded.pools[0]).toMatchObject({ pool_id: 'p1', total_bytes: 10_000, free_bytes: 10_000, writable: true });
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600);
    expect(await redis.smembers(redisKeys(prefix).nodesIndex())).toEqual(['n1']);
    await hb.stop();
    expect(await redis.exists(key)).toBe(0);
    redis.disconnect();
  });

  it('fails fast when Redis is unreachable and counts the failure', async () => {
    const redis = nodeRedis(await freePort());
    redis.on('error', () => undefined);
    redis.connect().catch(() => undefined);
    const metrics = createMetrics({ defaults: false });
    const hb = heartbeat(redis, 'down:', metrics);
    const started = Date.now();
    await hb.beat();
    await hb.stop();
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await metrics.heartbeatFailures.get()).values[0]!.value).toBe(1);
    redis.disconnect();
  });
});

describe('upload rate limit', () => {
  it('counts in Redis and answers 429 with Retry-After past the limit', async () => {
    const redis = nodeRedis(port);
    await redis.connect();
    const limit = createRateLimit({ redis, prefix: `rl${Date.now()}:`, pointsPerMinute: 2 });
    await limit('1.2.3.4');
    await limit('1.2.3.4');
    const err = await limit('1.2.3.4').catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 429, code: 'rate_limited' });
    expect(Number((err as { headers: Record<string, string> }).headers['retry-after'])).toBeGreaterThan(0);
    await limit('5.6.7.8');
    redis.disconnect();
  });

  it('keeps working from memory while Redis is down', async () => {
    const redis = nodeRedis(await freePort());
    redis.on('error', () => undefined);
    redis.connect().catch(() => undefined);
    const limit = createRateLimit({ redis, pointsPerMinute: 1 });
    await limit('1.2.3.4');
    await expect(limit('1.2.3.4')).rejects.toMatchObject({ status: 429 });
    redis.disconnect();
  });
});

describe('Heartbeat of an s3 pool', () => {
  it('reports it as type s3, never accepting, its configured capacity as room; disk pools unchanged', async () => {
    const disk = {
      id: 'd1',
      tier: 'hot' as const,
      path: path.join(dir, 'd1'),
      public_base_url: 'http://n1.test',
      max_bytes: 10_000,
      backup: {
        region: 'us-east-1',
        bucket: 'fennec-backup',
        prefix: 'd1',
        force_path_style: true,
        delay_seconds: 0,
        include_variants: false,
        concurrency: 1,
      },
    };
    preparePool(disk);
    const cold = {
      config: {
        id: 'cold',
        tier: 'cold' as const,
        type: 's3' as const,
        public_base_url: 'http://n1.test/cold',
        s3: { region: 'us-east-1', bucket: 'b', prefix: 'cold', force_path_style: true },
        presign_seconds: 3600,
        capacity_bytes: 5_000_000,
      },
      credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
    };
    const hb = new Heartbeat({
      redis: nodeRedis(port),
      keys: redisKeys('s3hb:'),
      logger: createLogger({ name: 't', level: 'silent' }),
      metrics: createMetrics({ defaults: false }),
      pools: new PoolSet([disk], [cold]),
      store: createStore(db),
      nodeId: 'n1',
      version: '0.0.0-test',
      publicUrl: 'http://n1.test:8081',
      intervalMs: 200,
      activeUploads: () => 0,
      queueDepth: () => 0,
    });
    const snap = await hb.snapshot();
    expect(snap.pools.map((p) => p.pool_id)).toEqual(['d1', 'cold']);
    expect(snap.pools[0]).not.toHaveProperty('type');
    // A pool with a backup target names its bucket: the coordinator may restore or delete through it.
    expect(snap.pools[0]!.backup_bucket).toBe('fennec-backup');
    expect(snap.pools[1]).not.toHaveProperty('backup_bucket');
    expect(snap.pools[1]).toEqual({
      pool_id: 'cold',
      tier: 'cold',
      type: 's3',
      total_bytes: 5_000_000,
      free_bytes: 5_000_000,
      used_bytes: 0,
      accepting: false,
      writable: true,
      public_base_url: 'http://n1.test/cold',
    });
  });
});
