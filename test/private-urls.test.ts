import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateEd25519Key } from '../shared/keys.js';
import { signUrl } from '../shared/signed-url.js';
import { makePhoto } from './support/photos.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

/**
 * Private files, node only (no nginx): stored under `{pool}/private/`, served by the node only
 * with a coordinator-signed, unexpired URL, never at the public path.
 */
describe('private files (signed URLs at the node)', () => {
  let t: TestCluster;
  let uuid: string;
  let img: any;
  let uploadedUrl: string;

  beforeAll(async () => {
    t = await startTestCluster({ coordinatorEnv: { FENNEC_PRIVATE_URL_TTL_SECONDS: '600' } });
    const photo = await makePhoto({ width: 640, height: 480 });
    const s = await t.session('alice', photo.length, { visibility: 'private' });
    const up = await t.uploadRaw(s, photo);
    expect(up.status).toBe(201);
    uuid = up.body.image_uuid;
    uploadedUrl = up.body.urls.original;
    img = await eventually(
      async () => {
        const r = await t.appGet(`/api/v1/images/${uuid}`);
        return r.body?.thumbnails_ready ? r.body : undefined;
      },
      30_000,
      'thumbnails',
    );
  });
  afterAll(async () => t?.stop());

  it('stores the original and its variants under private/', () => {
    expect(t.poolFiles(0, 'private/original')).toEqual([expect.stringMatching(new RegExp(`/${uuid}\\.jpg$`))]);
    expect(t.poolFiles(0, 'private/variants').some((f) => f.includes(`${uuid}_small`))).toBe(true);
    expect(t.poolFiles(0, 'original')).toEqual([]);
    expect(t.poolFiles(0, 'variants')).toEqual([]);
  });

  it('the image API gives signed URLs that work, with private caching', async () => {
    expect(img.visibility).toBe('private');
    expect(img.urls_expire_at).toEqual(expect.any(String));
    for (const url of [img.urls.original, img.urls.variants['small.webp']] as string[]) {
      expect(new URL(url).pathname).toMatch(/\/uploads\/private\//);
      const res = await fetch(url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get('cache-control')).toMatch(/^private, max-age=\d+$/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      await res.arrayBuffer();
    }
  });

  it('a public URL of a private file is a 404; the unsigned private URL a 403', async () => {
    const pub = new URL(img.urls.original);
    pub.search = '';
    pub.pathname = pub.pathname.replace('/uploads/private/', '/uploads/');
    expect((await fetch(pub)).status).toBe(404);
    expect(uploadedUrl).toBe(img.urls.original.split('?')[0]);
    expect((await fetch(uploadedUrl)).status).toBe(403);
  });

  it('a tampered or expired URL is a 403', async () => {
    const tampered = new URL(img.urls.original);
    tampered.searchParams.set('exp', String(Number(tampered.searchParams.get('exp')) + 60));
    const res = await fetch(tampered);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'url_signature_invalid' });
    const otherFile = new URL(img.urls.original);
    otherFile.pathname = new URL(img.urls.variants['small.webp']).pathname;
    expect((await fetch(otherFile)).status).toBe(403);

    // Signed with the coordinator's real key, but already expired.
    const keysDir = path.join(t.dataDir, 'coordinator', 'signing-keys');
    const pem = readdirSync(keysDir)
      .filter((f) => f.endsWith('.pem'))
      .sort()
      .at(-1)!;
    const { privateKey } = loadOrCreateEd25519Key(path.join(keysDir, pem));
    const bare = img.urls.original.split('?')[0] as string;
    const expired = signUrl(bare, { key: privateKey, kid: pem.slice(0, -4) }, { ttlSeconds: -5 });
    const exp = await fetch(expired);
    expect(exp.status).toBe(403);
    expect(await exp.json()).toMatchObject({ error: 'url_expired' });
    const fresh = signUrl(bare, { key: privateKey, kid: pem.slice(0, -4) }, { ttlSeconds: 60 });
    expect((await fetch(fresh)).status).toBe(200);
  });

  it('/i/{uuid} of a private image: 404 without the owning app key, 302 to a signed URL with it', async () => {
    const c = t.cluster.info.coordinator_url;
    expect((await fetch(`${c}/i/${uuid}`, { redirect: 'manual' })).status).toBe(404);
    expect((await fetch(`${c}/i/${uuid}/small.webp`, { redirect: 'manual' })).status).toBe(404);
    const res = await fetch(`${c}/i/${uuid}/small.webp`, {
      redirect: 'manual',
      headers: { authorization: `Bearer ${t.cluster.info.app_key}` },
    });
    expect(res.status).toBe(302);
    expect(res.headers.get('cache-control')).toBe('private, no-store');
    expect((await fetch(res.headers.get('location')!)).status).toBe(200);
  });
});
