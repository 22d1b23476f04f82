import { createHash } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coordinatorKey, hs256WithPublicKey, signToken, unsignedToken } from './support/forge.js';
import { fakeJpeg, HTML, SVG } from './support/images.js';
import { streamingRequest, truncatedRequest } from './support/raw-http.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const POOL_BYTES = 10 * 1024 * 1024;

describe('the upload path refuses every bad request and leaves nothing behind', () => {
  let t: TestCluster;
  let stored = 0;
  let nodeUrl: string;

  beforeAll(async () => {
    t = await startTestCluster({ nodes: 2, poolMaxBytes: POOL_BYTES, nodeEnv: { FENNEC_IDLE_TIMEOUT_MS: '1500' } });
    nodeUrl = t.cluster.info.nodes[0]!.url;
    // Uploads under test go to s01; s02 is there to be the wrong node.
    await setAccepting('s02-hot', false);
  });
  afterAll(async () => {
    await t?.stop();
  });

  /** No temp file, no original and no row beyond the uploads that got a 201. */
  function expectNothingLeft(): void {
    for (const i of [0, 1]) expect(t.poolFiles(i, 'tmp')).toEqual([]);
    const originals = [0, 1].flatMap((i) => t.poolFiles(i, 'original'));
    expect(originals).toHaveLength(stored);
    let rows = 0;
    for (const node of t.cluster.info.nodes) {
      const db = new Database(path.join(t.dataDir, 'nodes', node.node_id, 'state', 'node.db'), { readonly: true, fileMustExist: true });
      rows += (db.prepare('SELECT count(*) AS n FROM objects').get() as { n: number }).n;
      db.close();
    }
    expect(rows).toBe(stored);
  }

  const setAccepting = (pool: string, accepting: boolean) => t.cluster.admin('PATCH', `/api/v1/admin/pools/${pool}`, { accepting });

  async function s01Session(size: number) {
    const s = await t.session('eve', size);
    expect(s.node_id).toBe('s01');
    return s;
  }

  const post = (token: string | undefined, body: Uint8Array, headers: Record<string, string> = {}) =>
    fetch(`${nodeUrl}/api/internal/upload`, {
      method: 'POST',
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/octet-stream', ...headers },
      body,
    }).then(async (r) => ({ status: r.status, body: (await r.json().catch(() => ({}))) as { error?: string } }));

  it("401 without a token, with an expired one, and for a pool that is not this node's", async () => {
    const photo = fakeJpeg(1000);
    expect((await post(undefined, photo)).status).toBe(401);
    expect((await post('not.a.jwt', photo)).status).toBe(401);

    const signer = coordinatorKey(t.dataDir);
    const now = Math.floor(Date.now() / 1000);
    const expired = await signToken(signer, { aud: 's01', pool: 's01-hot', max: 5000, iat: now - 3600, nbf: now - 3600, exp: now - 600 });
    expect(await post(expired, photo)).toMatchObject({ status: 401, body: { error: 'token_expired' } });

    const otherPool = await signToken(signer, { aud: 's01', pool: 's02-hot', max: 5000 });
    expect(await post(otherPool, photo)).toMatchObject({ status: 401, body: { error: 'wrong_pool' } });

    const notYet = await signToken(signer, { aud: 's01', pool: 's01-hot', max: 5000, nbf: now + 3600 });
    expect((await post(notYet, photo)).status).toBe(401);
    expectNothingLeft();
  });

  it('401 for a token minted for another node', async () => {
    await setAccepting('s01-hot', false);
    await setAccepting('s02-hot', true);
    const s = await t.session('eve', 1000);
    await setAccepting('s02-hot', false);
    await setAccepting('s01-hot', true);
    expect(s.node_id).toBe('s02');
    const res = await fetch(`${t.cluster.info.nodes[0]!.url}/api/internal/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.token}`, 'content-type': 'image/jpeg' },
      body: fakeJpeg(1000),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('wrong_node');
    expectNothingLeft();
  });

  it('401 for forgeries: alg none, and HS256 keyed with the public key', async () => {
    const photo = fakeJpeg(1000);
    expect((await post(unsignedToken({ aud: 's01', pool: 's01-hot', max: 5000 }), photo)).status).toBe(401);
    const jwks = (await (await fetch(`${t.cluster.info.coordinator_url}/.well-known/jwks.json`)).json()) as {
      keys: { x: string; kid: string }[];
    };
    const forged = await hs256WithPublicKey(jwks.keys[0]!, jwks.keys[0]!.kid, { aud: 's01', pool: 's01-hot', max: 5000 });
    expect((await post(forged, photo)).status).toBe(401);
    expectNothingLeft();
  });

  it('401 for a replayed token after its upload succeeded', async () => {
    const photo = fakeJpeg(2000);
    const s = await s01Session(photo.length);
    expect((await post(s.token, photo)).status).toBe(201);
    stored++;
    expect(await post(s.token, photo)).toMatchObject({ status: 401, body: { error: 'token_used' } });
    expectNothingLeft();
  });

  it('413 for a declared Content-Length over max, before reading the body', async () => {
    const s = await s01Session(1000);
    expect(await post(s.token, fakeJpeg(5000))).toMatchObject({ status: 413, body: { error: 'too_large' } });
    expectNothingLeft();
  });

  it('413 the moment a chunked body passes max, without draining the rest', async () => {
    const s = await s01Session(100_000);
    const chunk = fakeJpeg(64 * 1024);
    // 64 MiB offered against a 100 kB token: the node must answer long before the client is done.
    const res = await streamingRequest({
      url: s.upload_url,
      headers: { authorization: `Bearer ${s.token}`, 'content-type': 'image/jpeg', 'transfer-encoding': 'chunked' },
      chunks: Array.from({ length: 1024 }, () => chunk),
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error).toBe('too_large');
    await eventually(async () => t.poolFiles(0, 'tmp').length === 0, 5000, 'tmp to be empty');
    expectNothingLeft();
  });

  it('415 for SVG, HTML and unknown bytes, whatever the Content-Type says', async () => {
    for (const [body, type] of [
      [SVG, 'image/svg+xml'],
      [HTML, 'image/jpeg'],
      [Buffer.from('just some text, not an image at all'), 'image/png'],
    ] as const) {
      const s = await s01Session(body.length);
      expect(await post(s.token, body, { 'content-type': type })).toMatchObject({ status: 415, body: { error: 'unsupported_type' } });
    }
    expectNothingLeft();
  });

  it('422 when x-checksum-sha256 does not match, and the same token works again afterwards', async () => {
    const photo = fakeJpeg(4000);
    const s = await s01Session(photo.length);
    const wrong = sha256(Buffer.from('something else'));
    expect(await post(s.token, photo, { 'x-checksum-sha256': wrong })).toMatchObject({ status: 422, body: { error: 'checksum_mismatch' } });
    expectNothingLeft();
    // A failed upload does not burn its token: the client may retry while it is valid.
    expect((await post(s.token, photo, { 'x-checksum-sha256': sha256(photo) })).status).toBe(201);
    stored++;
    expectNothingLeft();
  });

  it('a body shorter than its Content-Length (client gone) leaves nothing', async () => {
    const s = await s01Session(50_000);
    await truncatedRequest({
      port: Number(new URL(nodeUrl).port),
      path: '/api/internal/upload',
      headers: { authorization: `Bearer ${s.token}`, 'content-type': 'image/jpeg' },
      contentLength: 50_000,
      send: fakeJpeg(20_000),
    });
    await eventually(async () => t.poolFiles(0, 'tmp').length === 0, 5000, 'tmp to be empty');
    expectNothingLeft();
  });

  it('drops a connection that stalls past the idle timeout and removes its temp file', async () => {
    const s = await s01Session(50_000);
    const port = Number(new URL(nodeUrl).port);
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => {
        sock.write(
          [
            `POST /api/internal/upload HTTP/1.1`,
            'Host: x',
            'Content-Length: 50000',
            'Content-Type: image/jpeg',
            `Authorization: Bearer ${s.token}`,
            '',
            '',
          ].join('\r\n'),
        );
        sock.write(fakeJpeg(10_000));
      });
      sock.on('error', () => undefined);
      sock.on('close', () => resolve());
    });
    expect(Date.now() - started).toBeLessThan(15_000);
    await eventually(async () => t.poolFiles(0, 'tmp').length === 0, 5000, 'tmp to be empty');
    expectNothingLeft();
  });

  it('507 when the pool has less room than the upload declares', async () => {
    const signer = coordinatorKey(t.dataDir);
    const token = await signToken(signer, { aud: 's01', pool: 's01-hot', max: POOL_BYTES * 4 });
    const res = await post(token, fakeJpeg(POOL_BYTES + 1024));
    expect(res).toMatchObject({ status: 507, body: { error: 'insufficient_storage' } });
    expectNothingLeft();
  });

  it('400 for a multipart body without a file field, answered at once', async () => {
    const s = await s01Session(1000);
    const form = new FormData();
    form.append('note', 'no file here');
    const started = Date.now();
    const res = await fetch(s.upload_url, { method: 'POST', headers: { authorization: `Bearer ${s.token}` }, body: form });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'missing_file' });
    expect(Date.now() - started).toBeLessThan(2000);
    expectNothingLeft();
  });
});
