import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionResponse } from '../shared/api.js';
import { bombJpeg, makePhoto } from './support/photos.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

/** A tiny app backend: records every webhook and answers 500 to the first delivery of each event. */
function startWebhookApp() {
  const received: { id: string; event: string; status: number; body: string; signature: string }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const id = String(req.headers['fennec-event-id']);
      const status = received.some((r) => r.id === id) ? 200 : 500;
      received.push({
        id,
        event: String(req.headers['fennec-event']),
        status,
        body: Buffer.concat(chunks).toString(),
        signature: String(req.headers['fennec-signature']),
      });
      res.writeHead(status).end();
    });
  });
  return new Promise<{ url: string; received: typeof received; close: () => void }>((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, received, close: () => server.close() }),
    ),
  );
}

describe('variants: per-node jobs, one-decode pipeline, status, webhooks', () => {
  let t: TestCluster;
  let hooks: Awaited<ReturnType<typeof startWebhookApp>>;
  let hookApp: { app_id: string; api_key: string };
  let redis: Redis;

  beforeAll(async () => {
    hooks = await startWebhookApp();
    t = await startTestCluster({
      nodeEnv: {
        FENNEC_HEARTBEAT_INTERVAL_MS: '1000',
        FENNEC_JOB_LOCK_MS: '1500',
        FENNEC_JOB_MARKER_CHECK_MS: '300',
        FENNEC_JOB_BACKOFF_MS: '200',
        FENNEC_LOG_LEVEL: 'info',
      },
      coordinatorEnv: { FENNEC_HEARTBEAT_MAX_AGE_MS: '5000', FENNEC_WEBHOOK_BACKOFF_MS: '200', FENNEC_LOG_LEVEL: 'info' },
    });
    hookApp = (await t.cluster.admin('POST', '/api/v1/admin/apps', { name: 'hooks', webhook_url: hooks.url })) as typeof hookApp;
    redis = new Redis(t.cluster.info.redis_url);
  });
  afterAll(async () => {
    redis?.disconnect();
    hooks?.close();
    await t?.stop();
  });

  async function upload(photo: Buffer, user = 'alice', apiKey?: string): Promise<string> {
    // A loaded machine can let the node's heartbeat lapse for a moment (503 no_capacity): retry.
    const s = await eventually(
      async () => {
        const res = await fetch(`${t.cluster.info.coordinator_url}/api/v1/upload/sessions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey ?? t.cluster.info.app_key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ user_id: user, file_size: photo.length }),
        });
        return res.status === 201 ? ((await res.json()) as SessionResponse) : undefined;
      },
      10_000,
      'an upload session',
    );
    const up = await t.uploadRaw(s, photo);
    expect(up.status).toBe(201);
    return up.body.image_uuid as string;
  }

  async function image(uuid: string, apiKey?: string): Promise<any> {
    if (!apiKey) return (await t.appGet(`/api/v1/images/${uuid}`)).body;
    const res = await fetch(`${t.cluster.info.coordinator_url}/api/v1/images/${uuid}`, { headers: { authorization: `Bearer ${apiKey}` } });
    return res.json();
  }

  const settled = (uuid: string, timeoutMs = 30_000, apiKey?: string) =>
    eventually(
      async () => {
        const img = await image(uuid, apiKey);
        return img?.status === 'ready' || img?.status === 'failed' ? img : undefined;
      },
      timeoutMs,
      `image ${uuid} ready or failed`,
    );

  const fetchImage = async (url: string) => Buffer.from(await (await fetch(url)).arrayBuffer());

  it('JPEG: every default variant, right sizes and formats, orientation applied, GPS gone, /i redirects', async () => {
    // Stored 1200×800 with EXIF orientation 6: displayed 800×1200.
    const uuid = await upload(await makePhoto({ width: 1200, height: 800, orientation: 6, gps: true }));
    const img = await settled(uuid);
    expect(img).toMatchObject({ status: 'ready', thumbnails_ready: true, width: 800, height: 1200, format: 'jpeg', failure_reason: null });
    const names = Object.keys(img.urls.variants).sort();
    expect(names).toEqual(['full.avif', 'full.webp', 'medium.avif', 'medium.jpg', 'medium.webp', 'small.avif', 'small.jpg', 'small.webp']);
    const want: Record<string, [number, number, string]> = {
      'small.webp': [133, 200, 'webp'],
      'small.avif': [133, 200, 'heif'],
      'small.jpg': [133, 200, 'jpeg'],
      'medium.webp': [333, 500, 'webp'],
      'medium.avif': [333, 500, 'heif'],
      'medium.jpg': [333, 500, 'jpeg'],
      'full.webp': [800, 1200, 'webp'],
      'full.avif': [800, 1200, 'heif'],
    };
    const base = `${t.cluster.info.nodes[0]!.url}/uploads/variants/`;
    for (const [name, [w, h, format]] of Object.entries(want)) {
      const url = img.urls.variants[name] as string;
      expect(url.startsWith(base)).toBe(true);
      const meta = await sharp(await fetchImage(url)).metadata();
      expect([name, meta.width, meta.height, meta.format]).toEqual([name, w, h, format]);
      expect(meta.exif).toBeUndefined(); // no EXIF at all, so no GPS
    }
    expect(img.urls.variants['small.webp']).toBe(`${base}${img.urls.original.split('/original/')[1].replace(/\.jpg$/, '')}_small.webp`);
    const r = await fetch(`${t.cluster.info.coordinator_url}/i/${uuid}/medium.webp`, { redirect: 'manual' });
    expect([r.status, r.headers.get('location')]).toEqual([302, img.urls.variants['medium.webp']]);
    expect((await fetch(`${t.cluster.info.coordinator_url}/i/${uuid}/huge.webp`, { redirect: 'manual' })).status).toBe(404);
    // The original stays byte-exact (with its GPS): only variants are stripped.
    expect((await sharp(await fetchImage(img.urls.original)).metadata()).exif).toBeDefined();
  });

  it('PNG, WebP and GIF inputs: variants in WebP, AVIF and their own format', async () => {
    const [png, webp, gif] = await Promise.all([
      makePhoto({ width: 900, height: 600, format: 'png' }).then((b) => upload(b)),
      makePhoto({ width: 900, height: 600, format: 'webp' }).then((b) => upload(b)),
      makePhoto({ width: 300, height: 200, format: 'gif' }).then((b) => upload(b)),
    ]);
    const [a, b, c] = await Promise.all([settled(png), settled(webp), settled(gif)]);
    expect(a).toMatchObject({ status: 'ready', width: 900, height: 600, format: 'png' });
    expect(Object.keys(a.urls.variants)).toContain('small.png');
    expect(b).toMatchObject({ status: 'ready', format: 'webp' });
    expect(Object.keys(b.urls.variants).sort()).toEqual([
      'full.avif',
      'full.webp',
      'medium.avif',
      'medium.webp',
      'small.avif',
      'small.webp',
    ]);
    expect(c).toMatchObject({ status: 'ready', format: 'gif' });
    expect((await sharp(await fetchImage(c.urls.variants['small.gif'])).metadata()).format).toBe('gif');
  });

  it('a pixel bomb and a truncated JPEG end failed with a reason; the worker keeps working', async () => {
    const whole = await makePhoto({ width: 1200, height: 800, seed: 3 });
    const bomb = await upload(await bombJpeg());
    const truncated = await upload(whole.subarray(0, Math.floor(whole.length * 0.6)));
    const good = await upload(whole);
    const [b, tr, g] = await Promise.all([settled(bomb), settled(truncated), settled(good)]);
    expect(b).toMatchObject({ status: 'failed', width: null });
    expect(b.failure_reason).toMatch(/50000×50000.*pixel limit/);
    expect(tr.status).toBe('failed');
    expect(tr.failure_reason).toMatch(/cannot decode/);
    expect(g.status).toBe('ready');
  });

  it('kill -9 of the node mid-job: after restart every image is ready with whole variant files', async () => {
    const photos = await Promise.all([1, 2, 3].map((seed) => makePhoto({ width: 2400, height: 1600, seed })));
    const uuids: string[] = [];
    for (const p of photos) uuids.push(await upload(p, 'bob'));
    await eventually(async () => (await image(uuids[0]!)).thumbnails_ready, 20_000, 'first thumbnails');
    // Kill while the worker holds a job: its lock must run out and another run pick it up.
    await eventually(
      async () => {
        const q = (await t.cluster.admin('GET', '/api/v1/admin/queues')) as { queues: { counts: { active: number } }[] };
        return q.queues[0]!.counts.active > 0;
      },
      10_000,
      'an active job',
    );
    await t.cluster.nodes[0]!.kill();
    await t.cluster.startNode(0);
    const done = await Promise.all(uuids.map((u) => settled(u, 40_000)));
    for (const img of done) {
      expect(img.status).toBe('ready');
      expect(Object.keys(img.urls.variants)).toHaveLength(8);
      for (const url of Object.values(img.urls.variants) as string[]) {
        const meta = await sharp(await fetchImage(url)).metadata(); // a half-written file would not decode
        expect(meta.width).toBeGreaterThan(0);
      }
      const full = await sharp(await fetchImage(img.urls.variants['full.webp'])).stats();
      expect(full.channels.length).toBeGreaterThan(0);
    }
    expect(t.poolFiles(0, 'tmp').filter((f) => f.endsWith('.part'))).toEqual([]);
  }, 120_000);

  it('FLUSHALL while 20 images are queued: all 20 become ready after the node notices', async () => {
    const photo = (seed: number) => makePhoto({ width: 400, height: 300, seed });
    const uuids = await Promise.all(Array.from({ length: 20 }, (_, i) => photo(i + 10).then((b) => upload(b, `flush${i % 4}`))));
    await redis.flushall();
    const done = await Promise.all(uuids.map((u) => settled(u, 100_000)));
    expect(done.map((d) => d.status)).toEqual(Array(20).fill('ready'));
  }, 120_000);

  it('webhooks: each event delivered once after a 500, signed with the coordinator key', async () => {
    const uuid = await upload(await makePhoto({ width: 800, height: 600, seed: 42 }), 'carol', hookApp.api_key);
    await settled(uuid, 30_000, hookApp.api_key);
    const ids = [`${uuid}.image.thumbnails_ready`, `${uuid}.image.ready`];
    await eventually(async () => ids.every((id) => hooks.received.some((r) => r.id === id && r.status === 200)), 15_000, 'webhooks');
    // Both rows marked delivered: from then on the dispatcher sends nothing more for them.
    const metricsUrl = `${t.cluster.info.coordinator_url}/metrics`;
    await eventually(
      async () => /^fennec_webhooks_pending 0$/m.test(await (await fetch(metricsUrl)).text()),
      10_000,
      'no pending webhooks',
    );
    const jwks = createRemoteJWKSet(new URL(`${t.cluster.info.coordinator_url}/.well-known/jwks.json`));
    for (const id of ids) {
      const deliveries = hooks.received.filter((r) => r.id === id);
      expect(deliveries.map((d) => d.status)).toEqual([500, 200]);
      const ok = deliveries[1]!;
      const { payload } = await jwtVerify(ok.signature, jwks, { audience: hookApp.app_id, algorithms: ['EdDSA'] });
      expect(payload.sha256).toBe(createHash('sha256').update(ok.body).digest('hex'));
      const body = JSON.parse(ok.body);
      expect(body).toMatchObject({ id, type: ok.event, data: { image_uuid: uuid } });
    }
    expect(JSON.parse(hooks.received.find((r) => r.id === ids[1])!.body).data.status).toBe('ready');
  });

  it('queues are visible: node /metrics and the admin API', async () => {
    const metrics = await (await fetch(`${t.cluster.info.nodes[0]!.url}/metrics`)).text();
    expect(metrics).toMatch(/fennec_node_jobs\{state="failed"\} \d+/);
    const q = (await t.cluster.admin('GET', '/api/v1/admin/queues')) as { queues: any[] };
    expect(q.queues).toEqual([
      expect.objectContaining({
        node_id: 's01',
        queue: 'jobs-s01',
        counts: expect.objectContaining({ failed: expect.any(Number), waiting: 0 }),
      }),
    ]);
  });
});
