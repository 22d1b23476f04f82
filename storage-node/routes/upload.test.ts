import { createHash, generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { base64url, createLocalJWKSet, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEGACY_UPLOAD_PATH, UPLOAD_PATH } from '../../shared/api.js';
import { createLogger } from '../../shared/logger.js';
import { signUploadToken, UPLOAD_TOKEN_TYP } from '../../shared/tokens.js';
import { eventually } from '../../test/support/eventually.js';
import { buildApp } from '../app.js';
import type { PoolConfig } from '../config.js';
import { type Db, openDb, walFile } from '../db/open.js';
import { createStore, type NodeStore } from '../db/store.js';
import { createMetrics } from '../metrics.js';
import { PoolSet, preparePool } from '../pools.js';
import { createRateLimit } from '../rate-limit.js';
import { closeServer, listen } from '../server.js';
import { DirSync } from '../upload/dir-sync.js';
import { UploadTracker } from '../upload/tracker.js';

const NODE = 'n1';
const ISSUER = 'fennec-coordinator';
const JPEG_HEAD = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, ...Buffer.from('JFIF\0'), 1, 1, 0, 0, 1, 0, 1, 0, 0]);
const jpeg = (size: number) => Buffer.concat([JPEG_HEAD, Buffer.alloc(Math.max(0, size - JPEG_HEAD.length), 0xab)]);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let root: string;
let pools: PoolConfig[];
let db: Db;
let store: NodeStore;
let server: Server;
let port: number;
let coordKey: KeyObject;
let coordPublic: KeyObject;

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'upload-flow-'));
  pools = [
    { id: 'p1', tier: 'hot', path: path.join(root, 'p1'), public_base_url: 'http://cdn.test/n1', max_bytes: null },
    { id: 'p2', tier: 'hot', path: path.join(root, 'p2'), public_base_url: 'http://cdn.test/n1', max_bytes: 50_000 },
  ];
  for (const p of pools) preparePool(p);
  const pair = generateKeyPairSync('ed25519');
  coordKey = pair.privateKey;
  coordPublic = pair.publicKey;
  const jwk = coordPublic.export({ format: 'jwk' });
  const dbFile = path.join(root, 'state', 'node.db');
  db = openDb(dbFile);
  store = createStore(db);
  const dirSync = new DirSync();
  const app = buildApp({
    nodeId: NODE,
    getKey: createLocalJWKSet({ keys: [{ ...jwk, kid: 'k1', alg: 'EdDSA', use: 'sig' }] }),
    tokenIssuer: ISSUER,
    clockSkewSeconds: 5,
    pools: new PoolSet(pools),
    logger: createLogger({ name: 'test', level: 'silent' }),
    store,
    dirSync,
    syncDb: () => dirSync.sync(walFile(dbFile)),
    rateLimit: createRateLimit({ pointsPerMinute: 10_000 }),
    metrics: createMetrics({ defaults: false }),
    tracker: new UploadTracker(),
    wakeOutbox: () => undefined,
  });
  ({ server, port } = await listen(app, { host: '127.0.0.1', port: 0, idleTimeoutMs: 1000 }));
});

afterAll(async () => {
  server.closeAllConnections();
  await closeServer(server);
  db.close();
  rmSync(root, { recursive: true, force: true });
});

const token = (o: { aud?: string; pool?: string; max?: number; ttl?: number } = {}) =>
  signUploadToken(
    {
      iss: ISSUER,
      aud: o.aud ?? NODE,
      sub: 'u1',
      pool: o.pool ?? 'p1',
      sid: randomUUID(),
      max: o.max ?? 1_000_000,
      ttlSeconds: o.ttl ?? 60,
    },
    coordKey,
    'k1',
  );

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** POSTs with node:http so the test controls framing (chunked, lying Content-Length, endless bodies). */
function post(opts: {
  token?: string;
  headers?: Record<string, string | number>;
  body?: Buffer | AsyncIterable<Buffer>;
  path?: string;
}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      port,
      host: '127.0.0.1',
      method: 'POST',
      path: opts.path ?? LEGACY_UPLOAD_PATH,
      headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...opts.headers },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode!, headers: res.headers, body: text ? JSON.parse(text) : {} });
      });
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const body = opts.body ?? Buffer.alloc(0);
    if (Buffer.isBuffer(body)) {
      req.end(body);
      return;
    }
    (async () => {
      for await (const chunk of body) {
        if (answered || req.destroyed) break;
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      }
      if (!req.destroyed) req.end();
    })().catch(() => undefined);
  });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

/** The first pool's temp files: an upload in flight has one. */
const tmpFiles = () => filesUnder(path.join(pools[0]!.path, 'tmp'));

async function expectNothingLeft(objectsBefore: number): Promise<void> {
  const originals = () => pools.flatMap((p) => filesUnder(p.path).filter((f) => f.includes('/original/')));
  const temps = () => pools.flatMap((p) => filesUnder(path.join(p.path, 'tmp')));
  // A client that vanished gets no response: cleanup may still be finishing when we look.
  for (let i = 0; i < 50 && (temps().length > 0 || originals().length !== objectsBefore); i++) await new Promise((r) => setTimeout(r, 100));
  for (const p of pools) expect(filesUnder(path.join(p.path, 'tmp'))).toEqual([]);
  expect(store.countObjects()).toBe(objectsBefore);
  expect(originals()).toHaveLength(objectsBefore);
}

describe('POST /api/v1/upload (and its old path /api/internal/upload)', () => {
  let stored = 0;

  it('stores a raw JPEG durably and answers 201', async () => {
    const body = jpeg(200_000);
    const r = await post({ token: await token(), headers: { 'content-type': 'image/jpeg', 'x-checksum-sha256': sha(body) }, body });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      sha256: sha(body),
      size: body.length,
      mime: 'image/jpeg',
      pool_id: 'p1',
      node_id: NODE,
      status: 'processing',
    });
    const uuid = r.body.image_uuid as string;
    const row = store.getObject(uuid)!;
    expect(row.rel_path).toMatch(new RegExp(`^original/\\d{4}/\\d{2}/\\d{2}/${uuid}\\.jpg$`));
    expect((r.body.urls as { original: string }).original).toBe(`http://cdn.test/n1/uploads/${row.rel_path}`);
    expect(store.outboxPending()).toBe(++stored);
    const due = store.dueOutbox(Date.now() + 1, 10).map((o) => JSON.parse(o.payload));
    expect(due.some((p) => p.image_uuid === uuid && p.size === body.length && p.user_id === 'u1')).toBe(true);
  });

  it('stores a multipart upload (field "file", other fields ignored)', async () => {
    const body = jpeg(10_000);
    const form = new FormData();
    form.append('title', 'x');
    form.append('file', new Blob([body]), 'a.jpg');
    const req = new Request('http://x/', { method: 'POST', body: form });
    const raw = Buffer.from(await req.arrayBuffer());
    const r = await post({ token: await token(), headers: { 'content-type': req.headers.get('content-type')! }, body: raw });
    expect(r.status).toBe(201);
    expect(r.body.sha256).toBe(sha(body));
    stored++;
  });

  it('takes an upload on the public path and on the old one, with the same answer', async () => {
    for (const p of [UPLOAD_PATH, LEGACY_UPLOAD_PATH]) {
      const body = jpeg(3_000);
      const r = await post({ path: p, token: await token(), headers: { 'content-type': 'image/jpeg' }, body });
      expect(r.status, p).toBe(201);
      expect(r.body).toMatchObject({ sha256: sha(body), size: body.length, pool_id: 'p1', node_id: NODE, status: 'processing' });
      stored++;
    }
  });

  describe('refusals leave nothing behind', () => {
    const check = async (reply: Promise<Reply>, status: number, code?: string) => {
      const r = await reply;
      expect(r.status).toBe(status);
      if (code) expect(r.body.error).toBe(code);
      await expectNothingLeft(stored);
      return r;
    };
    const body = jpeg(5_000);

    it('401 without or with a malformed token', async () => {
      await check(post({ body }), 401, 'missing_token');
      await check(post({ token: 'abc.def.ghi', body }), 401, 'invalid_token');
    });

    it('401 expired', async () => {
      const now = Math.floor(Date.now() / 1000);
      const t = await new SignJWT({ pool: 'p1', sid: 's', max: 100_000 })
        .setProtectedHeader({ alg: 'EdDSA', kid: 'k1', typ: UPLOAD_TOKEN_TYP })
        .setIssuer(ISSUER)
        .setAudience(NODE)
        .setSubject('u1')
        .setJti(randomUUID())
        .setIssuedAt(now - 600)
        .setNotBefore(now - 600)
        .setExpirationTime(now - 60)
        .sign(coordKey);
      await check(post({ token: t, body }), 401, 'token_expired');
    });

    it('401 for another node and for a pool this node does not have', async () => {
      await check(post({ token: await token({ aud: 'n2' }), body }), 401, 'wrong_node');
      await check(post({ token: await token({ pool: 'p9' }), body }), 401, 'wrong_pool');
    });

    it('401 on replay of a used token', async () => {
      const t = await token();
      expect((await post({ token: t, body })).status).toBe(201);
      stored++;
      await check(post({ token: t, body }), 401, 'token_used');
    });

    it('401 for alg none and for HS256 signed with the public key bytes', async () => {
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: ISSUER,
        aud: NODE,
        sub: 'u1',
        pool: 'p1',
        sid: 's',
        jti: randomUUID(),
        max: 100_000,
        iat: now,
        nbf: now,
        exp: now + 60,
      };
      const enc = (o: object) => base64url.encode(JSON.stringify(o));
      const none = `${enc({ alg: 'none', typ: UPLOAD_TOKEN_TYP })}.${enc(claims)}.`;
      await check(post({ token: none, body }), 401);
      const pem = Buffer.from(coordPublic.export({ format: 'pem', type: 'spki' }));
      const raw = base64url.decode(String(coordPublic.export({ format: 'jwk' }).x));
      for (const secret of [pem, raw]) {
        const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'k1', typ: UPLOAD_TOKEN_TYP }).sign(secret);
        await check(post({ token: hs, body }), 401, 'invalid_token');
      }
    });

    it('413 when Content-Length is over the token max, before reading', async () => {
      const r = await check(post({ token: await token({ max: 1000 }), body }), 413, 'too_large');
      expect(r.headers.connection).toBe('close');
    });

    it('413 mid-stream for a chunked body, without draining an endless body', async () => {
      async function* endless() {
        for (;;) {
          yield jpeg(64 * 1024);
          await new Promise((r) => setImmediate(r));
        }
      }
      const started = Date.now();
      const r = await check(
        post({ token: await token({ max: 100_000 }), headers: { 'transfer-encoding': 'chunked' }, body: endless() }),
        413,
        'too_large',
      );
      expect(r.headers.connection).toBe('close');
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it('413 then closes the connection within ~2 s even if the client keeps sending', async () => {
      const t = await token({ max: 100_000 });
      // allowHalfOpen: a client that ignores our FIN and keeps sending; only the server's timer ends it.
      const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      let received = '';
      sock.on('data', (d) => (received += d.toString()));
      sock.on('error', () => undefined);
      sock.write(`POST /api/internal/upload HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t}\r\ntransfer-encoding: chunked\r\n\r\n`);
      const chunk = jpeg(64 * 1024);
      const timer = setInterval(() => {
        if (!sock.destroyed) sock.write(`${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`, 'latin1');
      }, 5);
      const started = Date.now();
      await new Promise((r) => sock.once('close', r));
      clearInterval(timer);
      expect(received).toMatch(/^HTTP\/1\.1 413/);
      expect(Date.now() - started).toBeLessThan(4000);
      await expectNothingLeft(stored);
    });

    it('415 for SVG, HTML and unknown bytes — and the token can be retried afterwards', async () => {
      const t = await token();
      await check(
        post({
          token: t,
          headers: { 'content-type': 'image/svg+xml' },
          body: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        }),
        415,
        'unsupported_type',
      );
      await check(
        post({ token: t, headers: { 'content-type': 'image/jpeg' }, body: Buffer.from('<!doctype html><html><body>hi</body></html>') }),
        415,
        'unsupported_type',
      );
      await check(post({ token: t, body: Buffer.alloc(10_000, 1) }), 415, 'unsupported_type');
      expect((await post({ token: t, body })).status).toBe(201);
      stored++;
    });

    it('422 on checksum mismatch, 400 on a malformed checksum header', async () => {
      await check(
        post({ token: await token(), headers: { 'x-checksum-sha256': sha(Buffer.from('other')) }, body }),
        422,
        'checksum_mismatch',
      );
      await check(post({ token: await token(), headers: { 'x-checksum-sha256': 'xyz' }, body }), 400, 'bad_checksum');
    });

    it('400 missing_file for a form without a file field', async () => {
      const form = new FormData();
      form.append('title', 'x');
      const req = new Request('http://x/', { method: 'POST', body: form });
      await check(
        post({
          token: await token(),
          headers: { 'content-type': req.headers.get('content-type')! },
          body: Buffer.from(await req.arrayBuffer()),
        }),
        400,
        'missing_file',
      );
    });

    it('507 when the pool has less room than the declared size', async () => {
      await check(post({ token: await token({ pool: 'p2' }), body: jpeg(60_000) }), 507, 'insufficient_storage');
    });

    it('removes the temp file of a client that stalls (idle timeout) or aborts', async () => {
      const t = await token();
      const req = http.request({
        port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/api/internal/upload',
        headers: { authorization: `Bearer ${t}`, 'content-length': 100_000 },
      });
      req.on('error', () => undefined);
      const stalledClosed = new Promise((r) => req.once('close', r));
      req.write(jpeg(20_000));
      await eventually(() => tmpFiles().length === 1, 5_000, 'a temp file for the stalled upload', 20);
      await stalledClosed; // the server dropped the silent socket after idleTimeoutMs
      await expectNothingLeft(stored);
      const aborted = http.request({
        port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/api/internal/upload',
        headers: { authorization: `Bearer ${await token()}`, 'content-length': 100_000 },
      });
      aborted.on('error', () => undefined);
      aborted.write(jpeg(20_000));
      await eventually(() => tmpFiles().length === 1, 5_000, 'a temp file for the aborted upload', 20);
      aborted.destroy();
      await expectNothingLeft(stored);
      // the aborted upload's token was released: it can be used again
      expect((await post({ token: t, body })).status).toBe(201);
      stored++;
    });
  });

  it('HEAD answers 204 with the accepted types', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/api/internal/upload`, { method: 'HEAD' });
    expect(r.status).toBe(204);
    expect(r.headers.get('accept')).toContain('image/jpeg');
  });
});

describe('the session deadline (issue 17)', () => {
  it('refuses a slow direct upload that finishes past the token deadline, leaving nothing on disk', async () => {
    const before = store.countObjects();
    const dl = Math.floor(Date.now() / 1000) + 2;
    const tok = await signUploadToken(
      { iss: ISSUER, aud: NODE, sub: 'u1', pool: 'p1', sid: randomUUID(), max: 1_000_000, ttlSeconds: 60, dl },
      coordKey,
      'k1',
    );
    const body = jpeg(100_000);
    // The token is valid when the body starts; the last bytes arrive after the deadline.
    // It drips (the server's idle timeout is 1 s) until past the deadline.
    async function* slow() {
      let sent = 50_000;
      yield body.subarray(0, sent);
      while (Date.now() < dl * 1000 + 300) {
        await new Promise((r) => setTimeout(r, 200));
        yield body.subarray(sent, sent + 1000);
        sent += 1000;
      }
      yield body.subarray(sent);
    }
    const res = await post({ token: tok, headers: { 'content-type': 'image/jpeg', 'content-length': body.length }, body: slow() });
    expect(res.status).toBe(410);
    expect(res.body).toMatchObject({ error: 'upload_expired' });
    await expectNothingLeft(before);
  });
});
