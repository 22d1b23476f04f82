import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePhoto } from './support/photos.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

/**
 * Issue 17: Redis with a password. Every process (coordinator, node, job worker) takes the URL as
 * given, so `redis://:secret@host` (or `rediss://user:secret@host`) works without more settings.
 */
describe('a cluster on a password-protected Redis', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster({ nodes: 1, redisPassword: 'correct horse' });
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('uploads and processes an image through Redis with AUTH; a client without the password is refused', async () => {
    expect(t.cluster.info.redis_url).toMatch(/^redis:\/\/:correct%20horse@/);
    const up = await t.store('alice', await makePhoto({ width: 64, height: 64, seed: 3 }));
    // Thumbnails mean the node's main process queued the job and its worker ran it, both via AUTH.
    await eventually(async () => (await t.appGet(`/api/v1/images/${up.image_uuid}`)).body?.status === 'ready', 30_000, 'the image ready');

    const anonymous = new Redis(t.cluster.info.redis_url.replace(/\/\/[^@]*@/, '//'), { lazyConnect: true, maxRetriesPerRequest: 0 });
    anonymous.on('error', () => undefined);
    try {
      await anonymous.connect().catch(() => undefined);
      await expect(anonymous.get('x')).rejects.toThrow(/NOAUTH/);
    } finally {
      anonymous.disconnect();
    }
  });
});
