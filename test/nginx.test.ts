import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocatePorts, waitForPort } from '../scripts/cluster/ports.js';
import { renderCoordinatorSite, renderNodeSite } from '../scripts/operators/nginx.js';
import { LEGACY_UPLOAD_PATH, type SessionResponse, UPLOAD_PATH } from '../shared/api.js';
import { loadOrCreateEd25519Key } from '../shared/keys.js';
import { signUrl } from '../shared/signed-url.js';
import { NGINX, startNginx, type TestNginx } from './support/nginx.js';
import { makePhoto } from './support/photos.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

/** GET with the path sent exactly as given (fetch would resolve `..` before sending). */
function rawGet(port: number, rawPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: rawPath, agent: false }, (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** Sends the head and `send`, then nothing; resolves with what came back when the server closes. */
function stalledRequest(port: number, head: string, send: Uint8Array, holdMs: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.write(head);
      sock.write(send);
    });
    const guard = setTimeout(() => sock.destroy(), holdMs);
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => (got += d));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(guard);
      resolve(got);
    });
  });
}

/**
 * The rendered nginx sites in front of a real cluster: the real nginx binary, non-daemon, its
 * own prefix and temp directories, on free loopback ports.
 */
describe.skipIf(!existsSync(NGINX))('nginx sites (real nginx in front of a test cluster)', () => {
  let t: TestCluster;
  let dir: string;
  let nginx: TestNginx | undefined;
  let nodePort: number;
  let coordPort: number;
  let poolDir: string;
  const viaNginx = (url: string) => {
    const u = new URL(url);
    u.port = String(nodePort);
    return u.toString();
  };

  async function upload(extra: Record<string, unknown> = {}) {
    const photo = await makePhoto({ width: 640, height: 480, seed: 7 });
    // Session through the coordinator's site, bytes through the node's site.
    const res = await fetch(`http://127.0.0.1:${coordPort}/api/v1/upload/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.cluster.info.app_key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: 'alice', file_size: photo.length, ...extra }),
    });
    expect(res.status).toBe(201);
    const s = (await res.json()) as SessionResponse;
    const form = new FormData();
    form.append('file', new Blob([photo]), 'photo.jpg');
    expect(new URL(s.upload_url).pathname).toBe(UPLOAD_PATH);
    const up = await fetch(viaNginx(s.upload_url), { method: 'POST', headers: { authorization: `Bearer ${s.token}` }, body: form });
    expect(up.status).toBe(201);
    // The old path is proxied too, for the release it stays an alias.
    expect((await fetch(viaNginx(s.upload_url.replace(UPLOAD_PATH, LEGACY_UPLOAD_PATH)), { method: 'HEAD' })).status).toBe(204);
    const body = (await up.json()) as { image_uuid: string; urls: { original: string } };
    const img = await eventually(
      async () => {
        const r = await t.appGet(`/api/v1/images/${body.image_uuid}`);
        return r.body?.thumbnails_ready ? r.body : undefined;
      },
      30_000,
      'thumbnails',
    );
    return { photo, uuid: body.image_uuid, original: body.urls.original, img };
  }

  beforeAll(async () => {
    t = await startTestCluster();
    dir = mkdtempSync(path.join(os.tmpdir(), 'fennec-nginx-'));
    [nodePort, coordPort] = (await allocatePorts(2)) as [number, number];
    const node = t.cluster.info.nodes[0]!;
    poolDir = node.pools[0]!.base_path;
    writeFileSync(
      path.join(dir, 'node.conf'),
      renderNodeSite({
        nodeId: node.node_id,
        listen: `127.0.0.1:${nodePort}`,
        serverName: 'localhost',
        nodeUpstream: new URL(node.url).host,
        maxBody: '8m',
        bodyIdleTimeout: '2s',
        pools: node.pools.map((p) => ({ pool_id: p.pool_id, dir: p.base_path, public_base_url: p.public_base_url })),
      }),
    );
    writeFileSync(
      path.join(dir, 'coordinator.conf'),
      renderCoordinatorSite({
        listen: `127.0.0.1:${coordPort}`,
        serverName: 'localhost',
        upstream: new URL(t.cluster.info.coordinator_url).host,
      }),
    );
    nginx = await startNginx(dir, {
      sites: ['node.conf', 'coordinator.conf'],
      workerConnections: 256,
      http: ['include /etc/nginx/mime.types;', 'default_type application/octet-stream;', 'sendfile on;'],
    });
    await waitForPort(nodePort);
    await waitForPort(coordPort);
    // Something the node must never serve: a partial upload's temp file.
    writeFileSync(path.join(poolDir, 'tmp', 'secret.part'), 'partial bytes');
  });

  afterAll(async () => {
    await nginx?.stop();
    await t?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('uploads through nginx and serves the original and a variant from disk with the right headers', async () => {
    const { photo, original, img } = await upload();
    const res = await fetch(viaNginx(original));
    expect(res.status).toBe(200);
    expect(res.headers.get('server')).toBe('nginx');
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; img-src 'self'; sandbox");
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('etag')).toBeTruthy();
    expect(Buffer.from(await res.arrayBuffer()).equals(photo)).toBe(true);

    const variant = await fetch(viaNginx(img.urls.variants['small.webp']));
    expect(variant.status).toBe(200);
    expect(variant.headers.get('content-type')).toBe('image/webp');
    expect(variant.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await variant.arrayBuffer()).byteLength).toBe(img.variants.find((v: any) => v.name === 'small.webp').bytes);

    const range = await fetch(viaNginx(original), { headers: { range: 'bytes=100-199' } });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe(`bytes 100-199/${photo.length}`);
    expect(Buffer.from(await range.arrayBuffer()).equals(photo.subarray(100, 200))).toBe(true);

    const preflight = await fetch(viaNginx(original), {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'range' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Range/);
    expect((await fetch(viaNginx(original), { method: 'POST', body: 'x' })).status).toBe(403);
  });

  it('never serves tmp/, the pool marker, directory listings or ../ escapes', async () => {
    const { original } = await upload();
    const dayDir = new URL(original).pathname.replace(/[^/]+$/, '');
    const cases = [
      '/uploads/tmp/secret.part',
      '/uploads/.fennec-pool.json',
      '/uploads/original/../tmp/secret.part',
      '/uploads/original/../.fennec-pool.json',
      '/uploads/variants/..%2ftmp%2fsecret.part',
      '/uploads/original/%2e%2e/tmp/secret.part',
      '/uploads/',
      dayDir,
    ];
    for (const p of cases) {
      const res = await rawGet(nodePort, p);
      expect(res.status, p).toBe(404);
      expect(res.body, p).not.toContain('partial bytes');
      expect(res.body, p).not.toContain('pool_id');
    }
    // Above the root nginx answers 400 itself, before any location.
    const above = await rawGet(nodePort, '/uploads/original/../../../../../etc/passwd');
    expect(above.status).toBe(400);
    expect(above.body).not.toContain('root:');
  });

  it('private files: a signed URL works through nginx; tampered or expired → 403, public path → 404', async () => {
    const { img, photo } = await upload({ visibility: 'private' });
    const signed = viaNginx(img.urls.original);
    expect(new URL(signed).pathname).toMatch(/^\/uploads\/private\/original\//);
    const ok = await fetch(signed);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('cache-control')).toBe('private, no-cache');
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await ok.arrayBuffer()).equals(photo)).toBe(true);
    expect((await fetch(viaNginx(img.urls.variants['small.webp']))).status).toBe(200);

    const tampered = new URL(signed);
    tampered.searchParams.set('exp', String(Number(tampered.searchParams.get('exp')) + 1));
    expect((await fetch(tampered)).status).toBe(403);
    const bare = signed.split('?')[0]!;
    expect((await fetch(bare)).status).toBe(403);
    const keysDir = path.join(t.dataDir, 'coordinator', 'signing-keys');
    const pem = readdirSync(keysDir)
      .filter((f) => f.endsWith('.pem'))
      .sort()
      .at(-1)!;
    const key = { key: loadOrCreateEd25519Key(path.join(keysDir, pem)).privateKey, kid: pem.slice(0, -4) };
    expect((await fetch(signUrl(bare, key, { ttlSeconds: -5 }))).status).toBe(403);
    expect((await fetch(signUrl(bare, key, { ttlSeconds: 60 }))).status).toBe(200);

    const publicPath = new URL(bare);
    publicPath.pathname = publicPath.pathname.replace('/uploads/private/', '/uploads/');
    expect((await fetch(publicPath)).status).toBe(404);
    // A signature for one private file opens no other path, escapes included.
    const sig = new URL(signed).search;
    expect((await rawGet(nodePort, `/uploads/private/../tmp/secret.part${sig}`)).status).toBe(404);
    const other = new URL(viaNginx(img.urls.variants['small.webp']));
    expect((await fetch(`${other.origin}${other.pathname}${sig}`)).status).toBe(403);
  });

  it('resumable uploads (tus) pass through: PATCH streamed, relative Location, image uuid header', async () => {
    const photo = await makePhoto({ width: 320, height: 240, seed: 11 });
    const s = await t.session('bob', photo.length);
    const auth = { authorization: `Bearer ${s.token}`, 'tus-resumable': '1.0.0' };
    const created = await fetch(viaNginx(s.tus_url), { method: 'POST', headers: { ...auth, 'upload-length': String(photo.length) } });
    expect(created.status).toBe(201);
    const location = new URL(created.headers.get('location')!, viaNginx(s.tus_url));
    expect(location.port).toBe(String(nodePort));
    const half = Math.floor(photo.length / 2);
    for (const [offset, end] of [
      [0, half],
      [half, photo.length],
    ] as const) {
      const res = await fetch(location, {
        method: 'PATCH',
        headers: { ...auth, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset) },
        body: photo.subarray(offset, end),
      });
      expect(res.status).toBe(204);
      if (end === photo.length) expect(res.headers.get('fennec-image-uuid')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('limits: a body over client_max_body_size is a 413; a stalled upload is dropped and leaves nothing', async () => {
    const s = await t.session('carol', 7 * 1024 * 1024);
    const big = await fetch(viaNginx(s.upload_url), {
      method: 'POST',
      headers: { authorization: `Bearer ${s.token}`, 'content-type': 'image/jpeg', 'content-length': String(9 * 1024 * 1024) },
      body: new Uint8Array(9 * 1024 * 1024),
    }).catch(() => undefined);
    expect(big?.status).toBe(413);

    // Half a body, then silence: nginx drops the client after the idle timeout (2 s here), the
    // node sees its upstream request end early and removes the partial file.
    const started = Date.now();
    const photo = await makePhoto({ width: 320, height: 240, seed: 12 });
    const s2 = await t.session('carol', photo.length);
    const head = [
      `POST ${new URL(s2.upload_url).pathname} HTTP/1.1`,
      'Host: 127.0.0.1',
      `Content-Length: ${photo.length}`,
      `Authorization: Bearer ${s2.token}`,
      'Content-Type: image/jpeg',
      '',
      '',
    ].join('\r\n');
    const answer = await stalledRequest(nodePort, head, photo.subarray(0, 1000), 10_000);
    expect(answer).not.toMatch(/^HTTP\/1\.1 201/);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThan(1500);
    expect(elapsed).toBeLessThan(9000);
    await eventually(
      async () => t.poolFiles(0, 'tmp').filter((f) => f.endsWith('.part') && f !== 'secret.part').length === 0,
      10_000,
      'tmp cleaned',
    );
  });
});
