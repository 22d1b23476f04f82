import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signJob } from '../shared/job-signature.js';
import { type JobData, jobId } from '../shared/jobs.js';
import { redisKeys } from '../shared/redis-keys.js';
import { coordinatorKey } from './support/forge.js';
import { makePhoto } from './support/photos.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

/**
 * Issue 17: Redis is no trust boundary. Each case writes to Redis what an attacker with access
 * to it could, and checks that no client, file or token goes where the admin did not register.
 */
describe('a Redis writer cannot redirect uploads or copies', () => {
  let t: TestCluster;
  let redis: Redis;
  let queue: Queue;
  let attacker: http.Server;
  let attackerUrl: string;
  const seen: string[] = [];
  const keys = redisKeys();

  beforeAll(async () => {
    attacker = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      res.writeHead(201).end('{}');
    });
    await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
    attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
    t = await startTestCluster({ nodes: 1 });
    redis = new Redis(t.cluster.info.redis_url, { maxRetriesPerRequest: null });
    queue = new Queue(keys.nodeQueue('s01', 'main'), { connection: redis, prefix: keys.queuePrefix() });
  }, 60_000);

  afterAll(async () => {
    await queue?.close();
    redis?.disconnect();
    await t?.stop();
    attacker?.close();
  });

  it('a rewritten heartbeat does not change the URLs sessions send clients to', async () => {
    const registered = await t.session('alice', 1000);
    const hash = keys.node('s01');
    for (let i = 0; i < 10; i++) {
      await redis.hset(hash, {
        upload_api_url: `${attackerUrl}/api/v1/upload`,
        tus_url: `${attackerUrl}/api/internal/tus`,
        ts: String(Date.now()),
      });
      const s = await t.session('alice', 1000);
      expect(s.upload_url).toBe(registered.upload_url);
      expect(s.tus_url).toBe(registered.tus_url);
      expect(s.upload_url.startsWith(attackerUrl)).toBe(false);
      await new Promise((r) => setTimeout(r, 150));
    }
  });

  async function failedReason(data: unknown, id: string): Promise<string> {
    await queue.add('forged', data as JobData, { jobId: id, attempts: 3 });
    return eventually(
      async () => {
        const job = await queue.getJob(id);
        return (await job?.isFailed()) ? `${job!.failedReason} (attempts ${job!.attemptsMade})` : undefined;
      },
      15_000,
      `job ${id} to fail`,
    );
  }

  it('forged replicate jobs (unsigned, foreign key, genuine signature beside a rewritten URL) PUT nothing anywhere', async () => {
    const stored = await t.store('alice', await makePhoto({ width: 64, height: 64, seed: 1 }));
    const evil: JobData = {
      kind: 'replicate',
      image_uuid: stored.image_uuid,
      target: { node_id: 's99', pool_id: 'p-evil', url: attackerUrl },
    };
    const id = jobId(evil);

    expect(await failedReason(evil, id)).toMatch(/refused replicate job .*no coordinator signature.*attempts 1/);
    await queue.remove(id);

    const foreign = { key: generateKeyPairSync('ed25519').privateKey, kid: coordinatorKey(t.dataDir).kid };
    const byForeign = await signJob(evil, { issuer: 'fennec-coordinator', nodeId: 's01', ...foreign });
    expect(await failedReason(byForeign, id)).toMatch(/refused replicate job .*attempts 1/);
    await queue.remove(id);

    // A job the coordinator really signed for a registered target; only the readable copy of the
    // URL beside the signature is rewritten. The node acts on the signed payload (a PUT to s01
    // itself would be refused as the same node, so target a node the coordinator never registered).
    const genuine = await signJob(evil, { issuer: 'fennec-coordinator', nodeId: 's01', ...coordinatorKey(t.dataDir) });
    expect(await failedReason(genuine, id)).toMatch(/refused replicate job .*s99 is not a registered node.*attempts 1/);
    expect(seen).toEqual([]);
  });

  it('a forged delete job deletes nothing', async () => {
    const stored = await t.store('bob', await makePhoto({ width: 64, height: 64, seed: 2 }));
    const original = t.poolFiles(0, 'original').find((f) => f.includes(stored.image_uuid))!;
    const file = path.join(t.cluster.info.nodes[0]!.pools[0]!.base_path, 'original', original);
    expect(existsSync(file)).toBe(true);
    const del: JobData = { kind: 'delete', image_uuid: stored.image_uuid, pool_id: t.cluster.info.nodes[0]!.pools[0]!.pool_id };
    expect(await failedReason(del, jobId(del))).toMatch(/refused delete job .*no coordinator signature/);
    expect(existsSync(file)).toBe(true);
  });
});
