import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionResponse } from '../shared/api.js';
import { redisKeys } from '../shared/redis-keys.js';
import { fakeJpeg } from './support/images.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

/** Outbox rows the node has logged a failed delivery for (pino JSON lines in its log file). */
function failedOutboxRows(logFile: string): number {
  const ids = new Set<number>();
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('outbox delivery failed')) continue;
    ids.add((JSON.parse(line) as { outbox_id: number }).outbox_id);
  }
  return ids.size;
}

describe('a node keeps taking uploads when the coordinator or Redis is away', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('coordinator stopped while uploads finish → the objects appear once it is back', async () => {
    const photos = [fakeJpeg(10_000), fakeJpeg(20_000), fakeJpeg(30_000)];
    const sessions: SessionResponse[] = [];
    for (const p of photos) sessions.push(await t.session('olga', p.length));

    await t.cluster.coordinator.stop();
    const uuids: string[] = [];
    for (const [i, p] of photos.entries()) {
      const up = await t.uploadRaw(sessions[i]!, p);
      expect(up.status).toBe(201);
      uuids.push(up.body.image_uuid);
    }
    // The outbox must have failed against the missing coordinator (it warns once per row) before
    // it comes back, so what is tested is the retry, not a first delivery.
    const nodeLog = t.cluster.nodes[0]!.spec.logFile;
    await eventually(() => failedOutboxRows(nodeLog) >= uuids.length, 15_000, 'a failed delivery of each upload');
    await t.cluster.startCoordinator();

    for (const uuid of uuids) {
      await eventually(async () => (await t.appGet(`/api/v1/images/${uuid}`)).status === 200, 15_000, `image ${uuid}`);
    }
    const usage = await t.appGet('/api/v1/users/olga/usage');
    expect(usage.body).toMatchObject({ used_bytes: 60_000, reserved_bytes: 0, objects: 3 });
  });

  it('a node restarted while the coordinator is down still verifies tokens (kept key set)', async () => {
    const photo = fakeJpeg(12_000);
    const s = await t.session('nina', photo.length);
    await t.cluster.coordinator.stop();
    await t.cluster.nodes[0]!.stop();
    await t.cluster.startNode(0);
    expect((await t.uploadRaw(s, photo)).status).toBe(201);
    await t.cluster.startCoordinator();
  });

  it('Redis stopped → uploads with tokens already issued still succeed; heartbeats resume after', async () => {
    const photos = [fakeJpeg(10_000), fakeJpeg(10_000)];
    const sessions: SessionResponse[] = [];
    for (const p of photos) sessions.push(await t.session('ravi', p.length));

    await t.cluster.redis.stop();
    for (const [i, p] of photos.entries()) {
      expect((await t.uploadRaw(sessions[i]!, p)).status).toBe(201);
    }
    const restartedAt = Date.now();
    await t.cluster.startRedis();

    const redis = new Redis(t.cluster.info.redis_url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      await eventually(async () => Number(await redis.hget(redisKeys().node('s01'), 'ts')) > restartedAt, 10_000, 'a fresh heartbeat');
    } finally {
      redis.disconnect();
    }
    // And the coordinator places uploads on the node again.
    await eventually(
      async () => (await t.createSession({ user_id: 'ravi', file_size: 100 })).status === 201,
      10_000,
      'placement to recover',
    );
  });
});
