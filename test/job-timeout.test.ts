import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionResponse } from '../shared/api.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

/**
 * Issue 17 item 3: a job over FENNEC_JOB_TIMEOUT_MS ends the worker process (a libvips encode
 * cannot be stopped from JS); the supervisor restarts it, the job stalls and runs again, and
 * after maxStalledCount overruns it fails for good: the image ends `failed` instead of the
 * worker encoding on.
 */
describe('per-job timeout', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster({
      nodeEnv: {
        FENNEC_HEARTBEAT_INTERVAL_MS: '1000',
        FENNEC_JOB_TIMEOUT_MS: '700',
        FENNEC_JOB_LOCK_MS: '1000',
        FENNEC_JOB_BACKOFF_MS: '200',
        FENNEC_LOG_LEVEL: 'info',
      },
      coordinatorEnv: { FENNEC_HEARTBEAT_MAX_AGE_MS: '5000' },
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('a large image whose variants take longer than the limit ends failed', async () => {
    // 48 MP: its variants take ~10 s of CPU, far past 700 ms.
    const photo = await sharp({ create: { width: 8000, height: 6000, channels: 3, background: { r: 10, g: 120, b: 60 } } })
      .png()
      .toBuffer();
    const s = await eventually(
      async () => {
        const res = await fetch(`${t.cluster.info.coordinator_url}/api/v1/upload/sessions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t.cluster.info.app_key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ user_id: 'alice', file_size: photo.length }),
        });
        return res.status === 201 ? ((await res.json()) as SessionResponse) : undefined;
      },
      10_000,
      'an upload session',
    );
    const up = await t.uploadRaw(s, photo);
    expect(up.status).toBe(201);
    const uuid = up.body.image_uuid as string;
    const img = await eventually(
      async () => {
        const body = (await t.appGet(`/api/v1/images/${uuid}`)).body as { status?: string; failure_reason?: string };
        return body?.status === 'ready' || body?.status === 'failed' ? body : undefined;
      },
      90_000,
      `image ${uuid} failed`,
    );
    expect(img.status).toBe('failed');
    console.log(`failure_reason: ${img.failure_reason}`);
    expect(img.failure_reason).toMatch(/stalled/i);
  }, 120_000);
});
