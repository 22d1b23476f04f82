import { createHash, createPublicKey, generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { VariantFileInfo } from '../../shared/api.js';
import { createLogger } from '../../shared/logger.js';
import {
  CONTENT_SHA256_HEADER,
  encodeMeta,
  OBJECT_META_HEADER,
  PURPOSE_REPLICATE,
  type ReplicaMeta,
  type ReplicateBind,
  replicatePath,
} from '../../shared/replication.js';
import { sha256Hex, signNodeRequest } from '../../shared/tokens.js';
import { asImage, HTML } from '../../test/support/images.js';
import { buildApp } from '../app.js';
import type { PoolConfig } from '../config.js';
import { type Db, openDb, walFile } from '../db/open.js';
import { createStore, type NodeStore, type ObjectRow } from '../db/store.js';
import { NodeKeys } from '../jwks.js';
import { createMetrics } from '../metrics.js';
import { PoolSet, preparePool } from '../pools.js';
import { createRateLimit } from '../rate-limit.js';
import { type ReceiveDeps, receiveReplica } from '../replication/receive.js';
import { putFile } from '../replication/send.js';
import { closeServer, listen } from '../server.js';
import { DirSync } from '../upload/dir-sync.js';
import { UploadTracker } from '../upload/tracker.js';

const NODE = 'n1';
const PEER = 'n2';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const bytes = (n: number, seed = 1) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
/** `bytes` under the head of the image type `ext` names: the receiver sniffs what it stores. */
const imageBytes = (ext: string, n: number, seed = 1) => asImage(ext, bytes(n, seed));
const day = '2026/11/22';
const originalRel = (uuid: string, vis = '') => `${vis}original/${day}/${uuid}.jpg`;

let root: string;
let outside: string;
let pools: PoolConfig[];
let db: Db;
let store: NodeStore;
let server: Server;
let port: number;
let peerKey: KeyObject;
let strangerKey: KeyObject;
let poolSet: PoolSet;
let receiveDeps: ReceiveDeps;
const storedCalls: ObjectRow[] = [];

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'replicate-'));
  outside = path.join(root, 'outside');
  mkdirSync(outside);
  pools = [
    { id: 'p1', tier: 'hot', path: path.join(root, 'p1'), public_base_url: 'http://cdn.test/n1', max_bytes: null },
    { id: 'p2', tier: 'hot', path: path.join(root, 'p2'), public_base_url: 'http://cdn.test/n1', max_bytes: 10_000 },
  ];
  for (const p of pools) preparePool(p);
  peerKey = generateKeyPairSync('ed25519').privateKey;
  strangerKey = generateKeyPairSync('ed25519').privateKey;
  const jwk = (k: KeyObject, kid: string) => ({ ...createPublicKey(k).export({ format: 'jwk' }), kid, alg: 'EdDSA', use: 'sig' });
  // The peer key set as main.ts builds it, from its cache file; the URL answers nothing, so an
  // unknown node stays unknown after the (failed) refetch.
  const stateDir = path.join(root, 'state');
  mkdirSync(stateDir);
  const cacheFile = path.join(stateDir, 'node-keys-cache.json');
  writeFileSync(cacheFile, JSON.stringify({ keys: [jwk(peerKey, PEER)] }));
  const nodeKeys = new NodeKeys({
    url: 'http://127.0.0.1:9/.well-known/fennec-node-keys.json',
    cacheFile,
    logger: createLogger({ name: 't', level: 'silent' }),
    timeoutMs: 500,
  });
  const dbFile = path.join(stateDir, 'node.db');
  db = openDb(dbFile);
  store = createStore(db);
  const dirSync = new DirSync();
  poolSet = new PoolSet(pools);
  const common = {
    nodeId: NODE,
    pools: poolSet,
    logger: createLogger({ name: 'test', level: 'silent' }),
    store,
    dirSync,
    syncDb: () => dirSync.sync(walFile(dbFile)),
    wakeOutbox: () => undefined,
    onStored: (row: ObjectRow) => void storedCalls.push(row),
  };
  receiveDeps = common;
  const app = buildApp({
    ...common,
    getKey: async () => {
      throw new Error('no upload tokens in this test');
    },
    tokenIssuer: 'fennec-coordinator',
    clockSkewSeconds: 5,
    rateLimit: createRateLimit({ pointsPerMinute: 10_000 }),
    metrics: createMetrics({ defaults: false }),
    tracker: new UploadTracker(),
    replication: { resolveNodeKey: nodeKeys.resolveNodeKey },
  });
  ({ server, port } = await listen(app, { host: '127.0.0.1', port: 0, idleTimeoutMs: 2000 }));
});

afterAll(async () => {
  server.closeAllConnections();
  await closeServer(server);
  db.close();
  rmSync(root, { recursive: true, force: true });
});

beforeEach(() => {
  storedCalls.length = 0;
});

function meta(uuid: string, o: Partial<ReplicaMeta> = {}): ReplicaMeta {
  return {
    image_uuid: uuid,
    session_id: 's1',
    user_id: 'u1',
    mime: 'image/jpeg',
    created_at: '2026-11-22T10:00:00.000Z',
    status: 'processing',
    width: null,
    height: null,
    format: null,
    variants: null,
    ...o,
  };
}

interface TokenOpts {
  pool?: string;
  path?: string;
  size?: number;
  sha256?: string;
  metaHeader?: string;
  aud?: string;
  purpose?: string;
  iss?: string;
  key?: KeyObject;
  ttl?: number;
}

function tokenFor(pool: string, rel: string, body: Buffer, metaHeader: string | undefined, o: TokenOpts = {}) {
  const bind: ReplicateBind = {
    pool: o.pool ?? pool,
    path: o.path ?? rel,
    size: o.size ?? body.length,
    meta: o.metaHeader !== undefined ? sha256Hex(o.metaHeader) : metaHeader ? sha256Hex(metaHeader) : '',
  };
  return signNodeRequest(
    {
      nodeId: o.iss ?? PEER,
      audience: o.aud ?? NODE,
      purpose: o.purpose ?? PURPOSE_REPLICATE,
      sha256: o.sha256 ?? sha(body),
      bind,
      ttlSeconds: o.ttl,
    },
    o.key ?? peerKey,
  );
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

/** A PUT with node:http: the raw path goes on the wire exactly as written (fetch would normalise it). */
function rawPut(rawPath: string, opts: { headers?: Record<string, string | number>; body?: Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const body = opts.body ?? Buffer.alloc(0);
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: rawPath,
      method: 'PUT',
      headers: { 'content-length': body.length, ...opts.headers },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode!, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
      });
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    req.end(body);
  });
}

/** A well-formed PUT of `body` to `rel` in `pool`, signed by the peer unless told otherwise. */
async function put(
  pool: string,
  rel: string,
  body: Buffer,
  o: { meta?: ReplicaMeta; token?: TokenOpts | null; sha256?: string; headers?: Record<string, string> } = {},
) {
  const metaHeader = o.meta ? encodeMeta(o.meta) : undefined;
  const token = o.token === null ? undefined : await tokenFor(pool, rel, body, metaHeader, o.token ?? {});
  return rawPut(replicatePath(pool, rel), {
    body,
    headers: {
      [CONTENT_SHA256_HEADER]: o.sha256 ?? o.token?.sha256 ?? sha(body),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(metaHeader ? { [OBJECT_META_HEADER]: metaHeader } : {}),
      ...o.headers,
    },
  });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/** Every file of the test root except the database's own. */
const snapshot = () => filesUnder(root).filter((f) => !f.startsWith(path.join(root, 'state')));
const tmpFiles = () => pools.flatMap((p) => filesUnder(path.join(p.path, 'tmp')));
const fileAt = (pool: string, rel: string) => path.join(root, pool, ...rel.split('/'));
const outboxKinds = () =>
  store.dueOutbox(Date.now() + 1, 1000).map((o) => ({ kind: o.kind, payload: JSON.parse(o.payload) as Record<string, unknown> }));

/** A refused PUT changes nothing: no file anywhere, no temp file, no row, no report. */
async function refused(reply: Promise<Reply>, status: number, code?: string): Promise<Reply> {
  const before = { files: snapshot(), objects: store.countObjects(), outbox: store.outboxPending() };
  const r = await reply;
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  if (code) expect(r.body.error).toBe(code);
  for (let i = 0; i < 20 && tmpFiles().length > 0; i++) await new Promise((res) => setTimeout(res, 50));
  expect(tmpFiles()).toEqual([]);
  expect(snapshot()).toEqual(before.files);
  expect(store.countObjects()).toBe(before.objects);
  expect(store.outboxPending()).toBe(before.outbox);
  return r;
}

describe('PUT /api/internal/replicate/{pool}/{path}', () => {
  it('201 stores an original byte-exact, records it as a replica with its copy.stored report, queues its variants', async () => {
    const uuid = randomUUID();
    const body = imageBytes('jpg', 5000);
    const rel = originalRel(uuid);
    const r = await put('p1', rel, body, { meta: meta(uuid) });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toEqual({ stored: true, identical: false, pool_id: 'p1', path: rel, size: body.length, sha256: sha(body) });
    expect(readFileSync(fileAt('p1', rel)).equals(body)).toBe(true);
    const row = db.prepare('SELECT * FROM objects WHERE uuid = ?').get(uuid) as Record<string, unknown>;
    expect(row).toMatchObject({
      pool_id: 'p1',
      rel_path: rel,
      size: body.length,
      sha256: sha(body),
      mime: 'image/jpeg',
      origin: 'replica',
      status: 'processing',
      variants: '[]',
      thumbnails_ready: 0,
      scrub_state: 'ok',
      session_id: 's1',
      user_id: 'u1',
    });
    expect(row.last_scrub_at).toBeGreaterThan(Date.now() - 60_000);
    const report = outboxKinds().find((o) => o.kind === 'copy.stored' && o.payload.image_uuid === uuid);
    expect(report?.payload).toMatchObject({ node_id: NODE, pool_id: 'p1', rel_path: rel, size: body.length, sha256: sha(body) });
    expect(storedCalls.map((c) => c.uuid)).toEqual([uuid]);
    expect(tmpFiles()).toEqual([]);
  });

  it('401 token_used for a replayed request: each token is good for one PUT', async () => {
    const body = imageBytes('webp', 300);
    const rel = `variants/${day}/${randomUUID()}_small.webp`;
    const token = await tokenFor('p1', rel, body, undefined);
    const once = () =>
      rawPut(replicatePath('p1', rel), { body, headers: { authorization: `Bearer ${token}`, [CONTENT_SHA256_HEADER]: sha(body) } });
    expect((await once()).status).toBe(201);
    rmSync(fileAt('p1', rel));
    await refused(once(), 401, 'token_used');
    expect(existsSync(fileAt('p1', rel))).toBe(false);
  });

  it('200 identical on a retry of the same bytes; the used bytes count the object once', async () => {
    const uuid = randomUUID();
    const body = imageBytes('jpg', 3000, 7);
    const rel = originalRel(uuid, 'private/');
    const used = store.usedBytes('p1');
    expect((await put('p1', rel, body, { meta: meta(uuid) })).status).toBe(201);
    const again = await put('p1', rel, body, { meta: meta(uuid) });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ stored: false, identical: true, pool_id: 'p1', path: rel, size: body.length, sha256: sha(body) });
    expect(store.usedBytes('p1')).toBe(used + body.length);
    expect(readFileSync(fileAt('p1', rel)).equals(body)).toBe(true);
    expect(tmpFiles()).toEqual([]);
  });

  it('an original with its variants (a move) takes the sender state and queues nothing', async () => {
    const uuid = randomUUID();
    const body = imageBytes('jpg', 2000, 3);
    const variants: VariantFileInfo[] = [
      { name: 'small', rel_path: `variants/${day}/${uuid}_small.webp`, width: 200, height: 100, bytes: 10, mime: 'image/webp' },
    ];
    const r = await put('p1', originalRel(uuid), body, {
      meta: meta(uuid, { status: 'ready', width: 800, height: 400, format: 'jpeg', variants }),
    });
    expect(r.status).toBe(201);
    const row = db.prepare('SELECT status, width, height, format, variants, thumbnails_ready FROM objects WHERE uuid = ?').get(uuid);
    expect(row).toEqual({
      status: 'ready',
      width: 800,
      height: 400,
      format: 'jpeg',
      variants: JSON.stringify(variants),
      thumbnails_ready: 1,
    });
    expect(storedCalls).toEqual([]);
  });

  it('a variant file is stored and not recorded', async () => {
    const uuid = randomUUID();
    const body = imageBytes('webp', 1500, 9);
    const rel = `variants/${day}/${uuid}_small.webp`;
    const before = { objects: store.countObjects(), outbox: store.outboxPending() };
    const r = await put('p1', rel, body);
    expect(r.status).toBe(201);
    expect(readFileSync(fileAt('p1', rel)).equals(body)).toBe(true);
    expect(store.countObjects()).toBe(before.objects);
    expect(store.outboxPending()).toBe(before.outbox);
    // different bytes for a variant (another encode) replace it
    const other = imageBytes('webp', 1400, 10);
    expect((await put('p1', rel, other)).status).toBe(201);
    expect(readFileSync(fileAt('p1', rel)).equals(other)).toBe(true);
  });

  it('422 when the body is not what the token and header promise; nothing kept', async () => {
    const uuid = randomUUID();
    const rel = originalRel(uuid);
    const promised = imageBytes('jpg', 4000, 1);
    const sent = imageBytes('jpg', 4000, 2);
    // the sender signs and declares the hash of `promised` but streams `sent`
    const r = await refused(put('p1', rel, sent, { meta: meta(uuid), token: { sha256: sha(promised) } }), 422, 'checksum_mismatch');
    expect(r.body.message).toContain(sha(sent));
    expect(() => readFileSync(fileAt('p1', rel))).toThrow();
  });

  it('422 size_mismatch when the body is shorter or longer than promised (module level: HTTP framing cannot carry it)', async () => {
    const pool = poolSet.get('p1')!;
    for (const body of [imageBytes('webp', 999), imageBytes('webp', 1001)]) {
      const uuid = randomUUID();
      const rel = `variants/${day}/${uuid}.webp`;
      const finalPath = fileAt('p1', rel);
      await expect(
        receiveReplica(receiveDeps, {
          pool,
          rel,
          finalPath,
          size: 1000,
          sha256: sha(imageBytes('webp', 1000)),
          meta: undefined,
          body: () => Readable.from([body]),
          signal: new AbortController().signal,
        }),
      ).rejects.toMatchObject({ status: 422, code: 'size_mismatch' });
      expect(tmpFiles()).toEqual([]);
      expect(() => readFileSync(finalPath)).toThrow();
    }
  });

  describe('401 for a token that does not authorise exactly this PUT', () => {
    const uuid = randomUUID();
    const rel = originalRel(uuid);
    const body = imageBytes('jpg', 1000, 5);
    const m = () => meta(uuid);
    // Functions: the keys exist only once beforeAll ran.
    const cases: [string, () => TokenOpts | null, string][] = [
      ['no token', () => null, 'missing_token'],
      ['another audience', () => ({ aud: 'n3' }), 'wrong_node'],
      ['another purpose', () => ({ purpose: 'upload.complete' }), 'invalid_token'],
      ['bound to another path', () => ({ path: originalRel(randomUUID()) }), 'invalid_token'],
      ['bound to another size', () => ({ size: 999 }), 'invalid_token'],
      ['bound to another pool', () => ({ pool: 'p2' }), 'invalid_token'],
      ['bound to another record', () => ({ metaHeader: encodeMeta(meta(uuid, { user_id: 'u2' })) }), 'invalid_token'],
      ['an unknown node', () => ({ iss: 'n9' }), 'unknown_node'],
      ['a known node id signed with another key', () => ({ key: strangerKey }), 'invalid_token'],
      ['expired', () => ({ ttl: -120 }), 'token_expired'],
    ];
    for (const [name, token, code] of cases)
      it(name, async () => {
        await refused(put('p1', rel, body, { meta: m(), token: token() }), 401, code);
      });

    it('a token for another body hash', async () => {
      await refused(put('p1', rel, body, { meta: m(), token: { sha256: sha(bytes(1000, 6)) }, sha256: sha(body) }), 401, 'invalid_token');
    });
  });

  describe('400 for a path that leaves the pool or is not a pool file', () => {
    const prefix = '/api/internal/replicate/p1/';
    const spellings = [
      '../x',
      '../../../../etc/passwd',
      `original/${day}/../../../../../x.jpg`,
      'original/../../x',
      '%2e%2e/x',
      '%2e%2e/%2e%2e/outside/x.jpg',
      '..%2fx',
      `original%2F2026%2F11%2F22%2Fx.jpg`,
      '..\\x',
      `original/${day}/..%5c..%5cx`,
      `original/${day}/x%00.jpg`,
      '/etc/passwd',
      `original//${day}/x.jpg`,
      `./original/${day}/x.jpg`,
      'tmp/x.part',
      '.fennec-pool.json',
      `original/${day}/x.jpg?y=1`,
      'original/x.jpg',
      `other/${day}/x.jpg`,
    ];
    for (const spelling of spellings)
      it(JSON.stringify(spelling), async () => {
        // A well-signed token for the very spelling: only the path is wrong.
        const body = bytes(100);
        const token = await tokenFor('p1', spelling, body, undefined);
        const r = await refused(
          rawPut(prefix + spelling, { body, headers: { authorization: `Bearer ${token}`, [CONTENT_SHA256_HEADER]: sha(body) } }),
          400,
        );
        // A backslash is refused by the HTTP adapter before our route, with an empty body.
        if (!spelling.includes('\\')) expect(r.body.error).toBe('bad_path');
      });

    it('an absolute path after the prefix (//etc/passwd) and an empty pool id', async () => {
      await refused(
        rawPut('/api/internal/replicate/p1//etc/passwd', { headers: { [CONTENT_SHA256_HEADER]: sha(Buffer.alloc(0)) } }),
        400,
        'bad_path',
      );
      await refused(rawPut(`/api/internal/replicate//original/${day}/x.jpg`), 400, 'bad_path');
      await refused(rawPut(`/api/internal/replicate/../upload`), 400, 'bad_path');
    });

    it('a symlink inside the pool, as a directory or as the file', async () => {
      const p1 = pools[0]!.path;
      mkdirSync(path.join(p1, 'original', '2026'), { recursive: true });
      symlinkSync(outside, path.join(p1, 'original', '2026', 'evil'));
      mkdirSync(path.join(p1, 'variants', '2026', '12'), { recursive: true });
      symlinkSync(outside, path.join(p1, 'variants', '2026', '12', '01'));
      mkdirSync(path.join(p1, 'variants', '2026', '12', '02'), { recursive: true });
      writeFileSync(path.join(outside, 'target'), 'keep');
      // Names a variant job writes: anything else is refused for its name before the link is looked at.
      const name = `${randomUUID()}.webp`;
      symlinkSync(path.join(outside, 'target'), path.join(p1, 'variants', '2026', '12', '02', name));
      for (const rel of ['original/2026/evil/x.jpg', `variants/2026/12/01/${name}`, `variants/2026/12/02/${name}`]) {
        const body = bytes(200);
        const r = await refused(put('p1', rel, body), 400, 'bad_path');
        // the first is not even a day directory; the others are refused for the link
        if (rel.startsWith('variants/')) expect(r.body.message).toContain('symlink');
      }
      expect(readdirSync(outside).sort()).toEqual(['target']);
      expect(readFileSync(path.join(outside, 'target'), 'utf8')).toBe('keep');
    });

    it('an original without its record, with a record that does not decode, or a record of another image', async () => {
      const uuid = randomUUID();
      const body = bytes(300);
      await refused(put('p1', originalRel(uuid), body), 400, 'meta_required');
      const bad = Buffer.from('{"image_uuid":1}').toString('base64url');
      const t = await tokenFor('p1', originalRel(uuid), body, bad);
      await refused(
        rawPut(replicatePath('p1', originalRel(uuid)), {
          body,
          headers: { authorization: `Bearer ${t}`, [CONTENT_SHA256_HEADER]: sha(body), [OBJECT_META_HEADER]: bad },
        }),
        400,
        'bad_meta',
      );
      await refused(put('p1', originalRel(uuid), body, { meta: meta(randomUUID()) }), 400, 'bad_path');
      await refused(put('p1', `variants/${day}/${uuid}.webp`, body, { meta: meta(uuid) }), 400, 'bad_meta');
    });
  });

  it('400 without Content-Length (chunked) or with a malformed x-content-sha256; 404 for an unknown pool', async () => {
    const uuid = randomUUID();
    const rel = `variants/${day}/${uuid}.webp`;
    const body = bytes(100);
    await refused(put('p1', rel, body, { sha256: 'xyz' }), 400, 'bad_checksum');
    const chunked = new Promise<Reply>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port,
        path: replicatePath('p1', rel),
        method: 'PUT',
        headers: { 'transfer-encoding': 'chunked', [CONTENT_SHA256_HEADER]: sha(body) },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.end(body);
    });
    await refused(chunked, 400, 'length_required');
    await refused(put('p9', rel, body), 404, 'unknown_pool');
  });

  it('507 when the pool has no room for the copy', async () => {
    const uuid = randomUUID();
    await refused(put('p2', originalRel(uuid), imageBytes('jpg', 20_000), { meta: meta(uuid) }), 507, 'insufficient_storage');
  });

  it('concurrent PUTs of the same object end with one whole, correct file', async () => {
    const uuid = randomUUID();
    const body = imageBytes('jpg', 2_000_000, 11);
    const rel = originalRel(uuid);
    const replies = await Promise.all(Array.from({ length: 5 }, () => put('p1', rel, body, { meta: meta(uuid) })));
    for (const r of replies) expect([200, 201]).toContain(r.status);
    expect(replies.some((r) => r.status === 201)).toBe(true);
    expect(sha(readFileSync(fileAt('p1', rel)))).toBe(sha(body));
    expect(tmpFiles()).toEqual([]);
    expect(store.getObject(uuid)?.sha256).toBe(sha(body));
  });

  it('replaces a corrupt file when this node records the object with the sent sha256 (scrub repair)', async () => {
    const uuid = randomUUID();
    const body = imageBytes('jpg', 6000, 13);
    const rel = originalRel(uuid);
    expect((await put('p1', rel, body, { meta: meta(uuid) })).status).toBe(201);
    db.prepare("UPDATE objects SET status = 'ready', thumbnails_ready = 1, scrub_state = 'mismatch' WHERE uuid = ?").run(uuid);
    const corrupt = Buffer.from(body);
    corrupt[100] ^= 0xff;
    writeFileSync(fileAt('p1', rel), corrupt);
    storedCalls.length = 0;
    const used = store.usedBytes('p1');
    const r = await put('p1', rel, body, { meta: meta(uuid) });
    expect(r.status).toBe(201);
    expect(readFileSync(fileAt('p1', rel)).equals(body)).toBe(true);
    expect(db.prepare('SELECT status, scrub_state FROM objects WHERE uuid = ?').get(uuid)).toEqual({ status: 'ready', scrub_state: 'ok' });
    expect(store.usedBytes('p1')).toBe(used);
    // a repaired original keeps the variants it has
    expect(storedCalls).toEqual([]);
  });

  it('409 when this node records the object with another sha256; the file stays', async () => {
    const uuid = randomUUID();
    const body = imageBytes('jpg', 800, 17);
    const rel = originalRel(uuid);
    expect((await put('p1', rel, body, { meta: meta(uuid) })).status).toBe(201);
    await refused(put('p1', rel, imageBytes('jpg', 800, 18), { meta: meta(uuid) }), 409, 'conflict');
    expect(readFileSync(fileAt('p1', rel)).equals(body)).toBe(true);
  });
});

describe('store.deleteObject', () => {
  it('removes the row, its bytes from the pool figure and adds the report in one step', async () => {
    const uuid = randomUUID();
    const body = imageBytes('jpg', 700, 19);
    expect((await put('p1', originalRel(uuid), body, { meta: meta(uuid) })).status).toBe(201);
    const used = store.usedBytes('p1');
    const pending = store.outboxPending();
    const row = store.deleteObject(uuid, { kind: 'copy.deleted', payload: { image_uuid: uuid, node_id: NODE, pool_id: 'p1', at: 'now' } });
    expect(row?.uuid).toBe(uuid);
    expect(store.getObject(uuid)).toBeUndefined();
    expect(store.usedBytes('p1')).toBe(used - body.length);
    expect(store.outboxPending()).toBe(pending + 1);
    expect(outboxKinds().some((o) => o.kind === 'copy.deleted' && o.payload.image_uuid === uuid)).toBe(true);
    expect(store.deleteObject(uuid, { kind: 'copy.deleted', payload: {} })).toBeUndefined();
    expect(store.outboxPending()).toBe(pending + 1);
  });
});

describe('NodeKeys (the peer key set)', () => {
  it('refetches on an unknown node (once per cooldown), keeps the last set through an outage, persists it', async () => {
    const a = generateKeyPairSync('ed25519').publicKey;
    const b = generateKeyPairSync('ed25519').publicKey;
    const jwk = (k: KeyObject, kid: string) => ({ ...k.export({ format: 'jwk' }), kid, alg: 'EdDSA', use: 'sig' });
    let keys = [jwk(a, 'na')];
    let up = true;
    let fetches = 0;
    const coordinator = http.createServer((_req, res) => {
      fetches++;
      if (!up) res.writeHead(503).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
    });
    await new Promise<void>((r) => coordinator.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(coordinator.address() as { port: number }).port}/.well-known/fennec-node-keys.json`;
    const cacheFile = path.join(root, 'state', 'node-keys-test.json');
    const logger = createLogger({ name: 't', level: 'silent' });
    try {
      const set = new NodeKeys({ url, cacheFile, logger, cooldownMs: 60_000 });
      expect(await set.resolveNodeKey('na')).toBeDefined();
      expect(fetches).toBe(1);
      keys = [jwk(a, 'na'), jwk(b, 'nb')];
      // 'nb' registered after our fetch, but the cooldown has not passed: still unknown, no fetch
      expect(await set.resolveNodeKey('nb')).toBeUndefined();
      expect(fetches).toBe(1);
      const cooled = new NodeKeys({ url, cacheFile, logger, cooldownMs: 0 });
      expect(await cooled.resolveNodeKey('nb')).toBeDefined();
      up = false;
      await cooled.refresh();
      expect(await cooled.resolveNodeKey('na')).toBeDefined();
      // a node restarted during the outage verifies from the cache file
      const restarted = new NodeKeys({ url, cacheFile, logger, cooldownMs: 60_000 });
      expect(await restarted.resolveNodeKey('nb')).toBeDefined();
      expect(await restarted.resolveNodeKey('nx')).toBeUndefined();
    } finally {
      await new Promise((r) => coordinator.close(r));
    }
  });
});

describe('variant names a peer may write (issue 17, item 8)', () => {
  // A well-signed PUT of any name used to be stored under variants/ (an evil.html was).
  const refusedNames = (uuid: string) => [
    `variants/${day}/evil.html`,
    `variants/${day}/${uuid}.html`,
    `variants/${day}/${uuid}_small.html`,
    `variants/${day}/${uuid}_small.webp.html`,
    `variants/${day}/${uuid}.svg`,
    `variants/${day}/${uuid}_Small.webp`,
    `variants/${day}/${uuid}_.webp`,
    `variants/${day}/${uuid}_small_x.webp`,
    `variants/${day}/${uuid.toUpperCase()}_small.webp`,
    `variants/${day}/not-a-uuid_small.webp`,
    `variants/${day}/${uuid}`,
    `private/variants/${day}/index.html`,
  ];
  for (const rel of refusedNames('0b6c1d6e-3f5a-4a8e-9c41-6f2d7e8a9b10'))
    it(`400 bad_path for ${rel}`, async () => {
      await refused(put('p1', rel, bytes(100)), 400, 'bad_path');
    });

  it('400 bad_path for an original with an extension no upload is stored under', async () => {
    const uuid = randomUUID();
    for (const ext of ['html', 'svg', 'js', 'exe'])
      await refused(put('p1', `original/${day}/${uuid}.${ext}`, bytes(100), { meta: meta(uuid) }), 400, 'bad_path');
  });

  it('still stores every name a variant job writes, public and private', async () => {
    const uuid = randomUUID();
    for (const rel of [
      `variants/${day}/${uuid}.webp`,
      `variants/${day}/${uuid}.avif`,
      `variants/${day}/${uuid}_small.jpg`,
      `variants/${day}/${uuid}_medium.png`,
      `private/variants/${day}/${uuid}_medium.avif`,
      `variants/${day}/${uuid}_thumb2x.gif`,
    ])
      expect((await put('p1', rel, imageBytes(path.extname(rel).slice(1), 120))).status, rel).toBe(201);
  });

  it('still stores an original of every type an upload is stored as', async () => {
    // The extensions shared/mime.ts gives a sniffed upload: HEIC and HEIF brands stay apart.
    for (const ext of ['jpg', 'png', 'webp', 'avif', 'gif', 'tif', 'heic', 'heif']) {
      const uuid = randomUUID();
      const r = await put('p1', `original/${day}/${uuid}.${ext}`, imageBytes(ext, 5000), { meta: meta(uuid) });
      expect(r.status, `${ext}: ${JSON.stringify(r.body)}`).toBe(201);
    }
  });
});

describe('what a peer may write under an image name (issue 17, item 8: sniff what is received)', () => {
  it('415 unsupported_type for HTML under a .webp name: nothing in tmp/ or at the path', async () => {
    const rel = `variants/${day}/${randomUUID()}_small.webp`;
    await refused(put('p1', rel, HTML), 415, 'unsupported_type');
    expect(existsSync(fileAt('p1', rel))).toBe(false);
  });

  it('415 unsupported_type for HTML longer than the sniff window (refused before the body ends)', async () => {
    const rel = `variants/${day}/${randomUUID()}.webp`;
    const body = Buffer.concat([HTML, Buffer.alloc(1_000_000, 0x20)]);
    await refused(put('p1', rel, body), 415, 'unsupported_type');
    expect(existsSync(fileAt('p1', rel))).toBe(false);
  });

  it('415 type_mismatch for PNG bytes under a .jpg name', async () => {
    const rel = `variants/${day}/${randomUUID()}_small.jpg`;
    await refused(put('p1', rel, imageBytes('png', 3000)), 415, 'type_mismatch');
    expect(existsSync(fileAt('p1', rel))).toBe(false);
  });

  it('415 for an original whose bytes are not its extension: no row, no report', async () => {
    const uuid = randomUUID();
    const rel = originalRel(uuid);
    await refused(put('p1', rel, imageBytes('webp', 6000), { meta: meta(uuid) }), 415, 'type_mismatch');
    await refused(put('p1', rel, Buffer.concat([HTML, bytes(6000)]), { meta: meta(uuid) }), 415, 'unsupported_type');
    expect(store.getObject(uuid)).toBeUndefined();
    expect(existsSync(fileAt('p1', rel))).toBe(false);
  });

  it('the sender takes a 415 as a refusal for good, not a retry', async () => {
    const rel = `variants/${day}/${randomUUID()}_small.webp`;
    const file = path.join(outside, 'not-an-image.webp');
    const body = Buffer.concat([HTML, bytes(200_000)]);
    writeFileSync(file, body);
    const target = { node_id: NODE, pool_id: 'p1', url: `http://127.0.0.1:${port}` };
    await expect(
      putFile({ nodeId: PEER, nodeKey: peerKey }, { target, relPath: rel, file, size: body.length, sha256: sha(body) }),
    ).rejects.toMatchObject({
      code: 'replicate_refused',
      retryable: false,
      message: expect.stringContaining('415'),
    });
    expect(tmpFiles()).toEqual([]);
    expect(existsSync(fileAt('p1', rel))).toBe(false);
    rmSync(file);
  });
});
