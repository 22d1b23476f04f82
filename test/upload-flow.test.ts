import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEGACY_UPLOAD_PATH, UPLOAD_PATH } from '../shared/api.js';
import { fakeJpeg, fakePng } from './support/images.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('direct upload, end to end through both binaries', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('session → multipart POST to the node → 201 durable → served back → indexed at the coordinator', async () => {
    const photo = fakeJpeg(300_000);
    const s = await t.session('alice', photo.length, { content_type: 'image/jpeg', filename: 'IMG_0001.jpg' });
    expect(s).toMatchObject({ node_id: 's01', pool_id: 's01-hot', max_size: photo.length });
    expect(s.upload_url).toBe(`${t.cluster.info.nodes[0]!.url}${UPLOAD_PATH}`);
    expect(s.tus_url).toBe(`${t.cluster.info.nodes[0]!.url}/api/internal/tus`);
    expect(Date.parse(s.expires_at)).toBeGreaterThan(Date.now());

    const up = await t.uploadMultipart(s, photo);
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({
      sha256: sha256(photo),
      size: photo.length,
      mime: 'image/jpeg',
      pool_id: 's01-hot',
      node_id: 's01',
      status: 'processing',
    });
    const uuid = up.body.image_uuid;

    // {pool}/original/YYYY/MM/DD/{uuid}.{ext}, filed under today's UTC date
    const now = new Date();
    const day = `${now.getUTCFullYear()}/${String(now.getUTCMonth() + 1).padStart(2, '0')}/${String(now.getUTCDate()).padStart(2, '0')}`;
    expect(t.poolFiles(0, 'original')).toContain(`${day}/${uuid}.jpg`);
    expect(t.poolFiles(0, 'tmp')).toEqual([]);
    expect(up.body.urls.original).toBe(`${t.cluster.info.nodes[0]!.url}/uploads/original/${day}/${uuid}.jpg`);

    // The node serves it itself in the one-box setup: whole, by range, and revalidated by ETag.
    const full = await fetch(up.body.urls.original);
    expect(full.status).toBe(200);
    expect(full.headers.get('content-type')).toBe('image/jpeg');
    expect(full.headers.get('cache-control')).toContain('immutable');
    expect(full.headers.get('x-content-type-options')).toBe('nosniff');
    expect(sha256(new Uint8Array(await full.arrayBuffer()))).toBe(sha256(photo));
    const etag = full.headers.get('etag');
    expect(etag).toBeTruthy();

    const part = await fetch(up.body.urls.original, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${photo.length}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(photo.subarray(100, 200));

    const again = await fetch(up.body.urls.original, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    const bad = await fetch(up.body.urls.original, { headers: { range: `bytes=${photo.length + 10}-` } });
    expect(bad.status).toBe(416);

    // The completion callback reaches the coordinator through the node's outbox.
    const image = await eventually(
      async () => {
        const r = await t.appGet(`/api/v1/images/${uuid}`);
        return r.status === 200 ? r.body : undefined;
      },
      10_000,
      'image at the coordinator',
    );
    expect(image).toMatchObject({
      image_uuid: uuid,
      size: photo.length,
      sha256: sha256(photo),
      mime: 'image/jpeg',
      node_id: 's01',
      pool_id: 's01-hot',
    });
    expect(image.urls.original).toBe(up.body.urls.original);

    const usage = await t.appGet('/api/v1/users/alice/usage');
    expect(usage.body).toMatchObject({ used_bytes: photo.length, reserved_bytes: 0, objects: 1 });

    const redirect = await fetch(`${t.cluster.info.coordinator_url}/i/${uuid}`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe(up.body.urls.original);
  });

  it('takes a raw body with its Content-Type and sniffs the real type from the bytes', async () => {
    const png = fakePng(50_000);
    const s = await t.session('bob', png.length);
    // The header says JPEG; the bytes are PNG. The bytes win.
    const up = await t.uploadRaw(s, png, { 'content-type': 'image/jpeg', 'x-checksum-sha256': sha256(png) });
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({ mime: 'image/png', sha256: sha256(png), size: png.length });
    expect(up.body.urls.original).toMatch(/\.png$/);
    const file = path.join(t.cluster.info.nodes[0]!.pools[0]!.base_path, new URL(up.body.urls.original).pathname.replace('/uploads/', ''));
    expect(existsSync(file)).toBe(true);
  });

  it('answers a re-synced photo (same user, same sha256) with the stored object instead of a new upload', async () => {
    const photo = fakeJpeg(20_000);
    const s = await t.session('carol', photo.length);
    const up = await t.uploadRaw(s, photo);
    expect(up.status).toBe(201);
    await eventually(async () => (await t.appGet(`/api/v1/images/${up.body.image_uuid}`)).status === 200);

    const dup = await t.createSession({ user_id: 'carol', file_size: photo.length, sha256: sha256(photo) });
    expect(dup.status).toBe(200);
    expect(dup.body).toMatchObject({ duplicate: true, image_uuid: up.body.image_uuid, sha256: sha256(photo) });

    // Another user with the same bytes uploads normally: dedup never crosses users.
    const other = await t.createSession({ user_id: 'dave', file_size: photo.length, sha256: sha256(photo) });
    expect(other.status).toBe(201);
  });

  it('answers HEAD on the upload route with 204 so clients can probe a node', async () => {
    for (const p of [UPLOAD_PATH, LEGACY_UPLOAD_PATH]) {
      const res = await fetch(`${t.cluster.info.nodes[0]!.url}${p}`, { method: 'HEAD' });
      expect(res.status, p).toBe(204);
    }
  });

  it('publishes its keys and health on both binaries', async () => {
    const jwks = (await (await fetch(`${t.cluster.info.coordinator_url}/.well-known/jwks.json`)).json()) as { keys: unknown[] };
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    for (const base of [t.cluster.info.coordinator_url, t.cluster.info.nodes[0]!.url]) {
      expect((await fetch(`${base}/health`)).status).toBe(200);
      expect((await fetch(`${base}/ready`)).status).toBe(200);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toContain('process_cpu_seconds_total');
    }
  });
});
