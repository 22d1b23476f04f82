import { createHash, generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLocalJWKSet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger.js';
import { signUploadToken } from '../../shared/tokens.js';
import { eventually } from '../../test/support/eventually.js';
import { buildApp } from '../app.js';
import type { PoolConfig } from '../config.js';
import { type Db, openDb, walFile } from '../db/open.js';
import { createStore, type NodeStore } from '../db/store.js';
import { createTusRegistry } from '../db/tus.js';
import { createMetrics } from '../metrics.js';
import { PoolSet, preparePool } from '../pools.js';
import { createRateLimit } from '../rate-limit.js';
import { closeServer, listen } from '../server.js';
import { TusService } from '../tus/service.js';
import { DirSync } from '../upload/dir-sync.js';
import { UploadTracker } from '../upload/tracker.js';

const NODE = 'n1';
const ISSUER = 'fennec-coordinator';
const JPEG_HEAD = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, ...Buffer.from('JFIF\0'), 1, 1, 0, 0, 1, 0, 1, 0, 0]);
const jpeg = (size: number) => Buffer.concat([JPEG_HEAD, Buffer.alloc(Math.max(0, size - JPEG_HEAD.length), 0xab)]);
const digest = (algo: string, b: Buffer) => createHash(algo).update(b).digest();

let root: string;
let pool: PoolConfig;
let db: Db;
let store: NodeStore;
let tus: TusService;
let server: Server;
let base: string;
let coordKey: KeyObject;

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'tus-route-'));
  pool = { id: 'p1', tier: 'hot', path: path.join(root, 'p1'), public_base_url: 'http://cdn.test/n1', max_bytes: null };
  preparePool(pool);
  const pair = generateKeyPairSync('ed25519');
  coordKey = pair.privateKey;
  const jwk = pair.publicKey.export({ format: 'jwk' });
  const dbFile = path.join(root, 'state', 'node.db');
  db = openDb(dbFile);
  store = createStore(db);
  const dirSync = new DirSync();
  const pools = new PoolSet([pool]);
  const logger = createLogger({ name: 'test', level: 'silent' });
  tus = new TusService({ pools, registry: createTusRegistry(db), expirationMs: 60_000, logger });
  const app = buildApp({
    nodeId: NODE,
    getKey: createLocalJWKSet({ keys: [{ ...jwk, kid: 'k1', alg: 'EdDSA', use: 'sig' }] }),
    tokenIssuer: ISSUER,
    clockSkewSeconds: 5,
    pools,
    logger,
    store,
    dirSync,
    syncDb: () => dirSync.sync(walFile(dbFile)),
    rateLimit: createRateLimit({ pointsPerMinute: 10_000 }),
    metrics: createMetrics({ defaults: false }),
    tracker: new UploadTracker(),
    wakeOutbox: () => undefined,
    tus,
  });
  const l = await listen(app, { host: '127.0.0.1', port: 0, idleTimeoutMs: 5000 });
  server = l.server;
  base = `http://127.0.0.1:${l.port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await closeServer(server);
  db.close();
  rmSync(root, { recursive: true, force: true });
});

const token = (o: { aud?: string; max?: number } = {}) =>
  signUploadToken(
    { iss: ISSUER, aud: o.aud ?? NODE, sub: 'u1', pool: 'p1', sid: randomUUID(), max: o.max ?? 1_000_000, ttlSeconds: 60 },
    coordKey,
    'k1',
  );

const TUS = { 'tus-resumable': '1.0.0' };
const OCTETS = { 'content-type': 'application/offset+octet-stream' };

async function create(tok: string, length: number, extra: Record<string, string> = {}, body?: Buffer) {
  const res = await fetch(`${base}/api/internal/tus`, {
    method: 'POST',
    headers: { ...TUS, authorization: `Bearer ${tok}`, 'upload-length': String(length), ...extra },
    body,
  });
  await res.arrayBuffer();
  return res;
}

async function patch(url: string, tok: string | undefined, offset: number, body: Buffer, extra: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'PATCH',
    headers: { ...TUS, ...OCTETS, ...(tok ? { authorization: `Bearer ${tok}` } : {}), 'upload-offset': String(offset), ...extra },
    body,
  });
  await res.arrayBuffer();
  return res;
}

async function head(url: string, tok?: string) {
  const res = await fetch(url, { method: 'HEAD', headers: { ...TUS, ...(tok ? { authorization: `Bearer ${tok}` } : {}) } });
  return res;
}

const tusFiles = () => readdirSync(path.join(pool.path, 'tmp', 'tus'));

describe('tus routes', () => {
  it('OPTIONS advertises the extensions and checksum algorithms', async () => {
    const res = await fetch(`${base}/api/internal/tus`, { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    expect(res.headers.get('tus-version')).toBe('1.0.0');
    expect(res.headers.get('tus-extension')!.split(',').sort()).toEqual(
      ['checksum', 'creation', 'creation-with-upload', 'expiration', 'termination'].sort(),
    );
    expect(res.headers.get('tus-checksum-algorithm')).toBe('sha1,sha256');
  });

  it('uploads in chunks with checksums, finishes through the direct finish step', async () => {
    const tok = await token();
    const data = jpeg(300_000);
    const res = await create(tok, data.length);
    expect(res.status).toBe(201);
    const url = new URL(res.headers.get('location')!, base).href;
    expect(url).toMatch(/\/api\/internal\/tus\/[A-Za-z0-9_-]{32}$/);
    expect(res.headers.get('upload-expires')).toBeTruthy();

    // An id alone, or another upload's token, grants nothing.
    const noToken = await head(url);
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get('tus-resumable')).toBe('1.0.0');
    expect((await head(url, await token())).status).toBe(403);
    expect((await patch(url, undefined, 0, data.subarray(0, 10))).status).toBe(401);

    const first = data.subarray(0, 100_000);
    let r = await patch(url, tok, 0, first, { 'upload-checksum': `sha256 ${digest('sha256', first).toString('base64')}` });
    expect(r.status).toBe(204);
    expect(r.headers.get('upload-offset')).toBe('100000');

    // Wrong offset → 409, wrong type → 415, bad checksum → 460 with the chunk discarded.
    expect((await patch(url, tok, 5, data.subarray(5, 10))).status).toBe(409);
    const wrongType = await fetch(url, {
      method: 'PATCH',
      headers: { ...TUS, authorization: `Bearer ${tok}`, 'content-type': 'application/octet-stream', 'upload-offset': '100000' },
      body: data.subarray(100_000, 100_010),
    });
    expect(wrongType.status).toBe(415);
    const second = data.subarray(100_000, 200_000);
    r = await patch(url, tok, 100_000, second, { 'upload-checksum': `sha1 ${digest('sha1', Buffer.from('nope')).toString('base64')}` });
    expect(r.status).toBe(460);
    r = await head(url, tok);
    expect(r.status).toBe(200);
    expect(r.headers.get('upload-offset')).toBe('100000');
    expect(r.headers.get('upload-length')).toBe('300000');

    r = await patch(url, tok, 100_000, second, { 'upload-checksum': `sha1 ${digest('sha1', second).toString('base64')}` });
    expect(r.status).toBe(204);
    r = await patch(url, tok, 200_000, data.subarray(200_000));
    expect(r.status).toBe(204);
    const uuid = r.headers.get('fennec-image-uuid');
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    const obj = store.getObject(uuid!)!;
    expect(obj.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(obj.size).toBe(data.length);
    expect(statSync(path.join(pool.path, obj.rel_path)).size).toBe(data.length);
    expect(tusFiles()).toEqual([]);
    expect((await head(url, tok)).status).toBe(404);
  });

  it('creation-with-upload finishes in one request; the token creates only one upload', async () => {
    const tok = await token();
    const data = jpeg(5000);
    const res = await create(tok, data.length, OCTETS, data);
    expect(res.status).toBe(201);
    expect(res.headers.get('fennec-image-uuid')).toBeTruthy();
    expect((await create(tok, data.length)).status).toBe(401);
  });

  it('refuses Upload-Length over max (413) and a token for another node (401) before storing anything', async () => {
    const over = await create(await token({ max: 1000 }), 1001);
    expect(over.status).toBe(413);
    expect(over.headers.get('tus-resumable')).toBe('1.0.0');
    expect((await create(await token({ aud: 'n2' }), 10)).status).toBe(401);
    expect(tusFiles()).toEqual([]);
  });

  it('refuses a body running past Upload-Length (413) and keeps the offset', async () => {
    const tok = await token();
    const res = await create(tok, 1000);
    const url = new URL(res.headers.get('location')!, base).href;
    expect((await patch(url, tok, 0, jpeg(2000))).status).toBe(413);
    expect((await head(url, tok)).headers.get('upload-offset')).toBe('0');
    const del = await fetch(url, { method: 'DELETE', headers: { ...TUS, authorization: `Bearer ${tok}` } });
    expect(del.status).toBe(204);
  });

  it('refuses a forbidden type at completion (415) and deletes the data', async () => {
    const tok = await token();
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    const res = await create(tok, svg.length);
    const url = new URL(res.headers.get('location')!, base).href;
    expect((await patch(url, tok, 0, svg)).status).toBe(415);
    expect(tusFiles()).toEqual([]);
  });

  it('finishes on HEAD an upload whose bytes all arrived but whose finish never ran', async () => {
    const tok = await token();
    const data = jpeg(20_000);
    const res = await create(tok, data.length);
    const url = new URL(res.headers.get('location')!, base).href;
    const id = url.split('/').at(-1)!;
    // As if the node had stopped right after the last byte reached the file.
    await fs.writeFile(path.join(pool.path, 'tmp', 'tus', id), data);
    const h = await head(url, tok);
    expect(h.status).toBe(200);
    const uuid = h.headers.get('fennec-image-uuid')!;
    expect(store.getObject(uuid)!.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect((await head(url, tok)).status).toBe(404);
  });

  it('serializes PATCHes: a second writer gets 409 while the first streams', async () => {
    const tok = await token();
    const res = await create(tok, 100_000);
    const url = new URL(res.headers.get('location')!, base).href;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slowBody = new ReadableStream<Uint8Array>({
      async start(ctrl) {
        ctrl.enqueue(jpeg(1000));
        await gate;
        ctrl.enqueue(Buffer.alloc(1000, 1));
        ctrl.close();
      },
    });
    const slow = fetch(url, {
      method: 'PATCH',
      headers: { ...TUS, ...OCTETS, authorization: `Bearer ${tok}`, 'upload-offset': '0' },
      body: slowBody,
      duplex: 'half',
    } as RequestInit);
    // Its first chunk on disk: the first PATCH holds the upload while its body waits on the gate.
    const file = path.join(pool.path, 'tmp', 'tus', url.split('/').at(-1)!);
    await eventually(() => existsSync(file) && statSync(file).size >= 1000, 5_000, 'the first chunk written', 20);
    expect((await patch(url, tok, 0, Buffer.alloc(10))).status).toBe(409);
    release();
    const first = await slow;
    expect(first.status).toBe(204);
    expect(first.headers.get('upload-offset')).toBe('2000');
  });

  it('termination deletes the partial data; expiry sweeps what is left', async () => {
    const tok = await token();
    const res = await create(tok, 50_000);
    const url = new URL(res.headers.get('location')!, base).href;
    await patch(url, tok, 0, jpeg(10_000));
    const id = url.split('/').at(-1)!;
    expect(existsSync(path.join(pool.path, 'tmp', 'tus', id))).toBe(true);
    const del = await fetch(url, { method: 'DELETE', headers: { ...TUS, authorization: `Bearer ${tok}` } });
    expect(del.status).toBe(204);
    expect(tusFiles().filter((f) => f.startsWith(id))).toEqual([]);
    expect((await head(url, tok)).status).toBe(404);

    const tok2 = await token();
    const res2 = await create(tok2, 50_000);
    const id2 = res2.headers.get('location')!.split('/').at(-1)!;
    expect(tusFiles()).toContain(id2);
    expect(await tus.sweep(Date.now() + 120_000)).toBeGreaterThan(0);
    expect(tusFiles()).toEqual([]);
  });
  it('expires an upload at the session deadline: later bytes are refused and the sweep removes it', async () => {
    const dl = Math.floor(Date.now() / 1000) + 2;
    const tok = await signUploadToken(
      { iss: ISSUER, aud: NODE, sub: 'u1', pool: 'p1', sid: randomUUID(), max: 1_000_000, ttlSeconds: 60, dl },
      coordKey,
      'k1',
    );
    const res = await create(tok, 20_000);
    expect(res.status).toBe(201);
    const url = new URL(res.headers.get('location')!, base).href;
    const id = url.split('/').at(-1)!;
    const body = jpeg(20_000);
    expect((await patch(url, tok, 0, body.subarray(0, 10_000))).status).toBe(204);
    await new Promise((r) => setTimeout(r, dl * 1000 - Date.now() + 300));
    const objects = store.countObjects();
    const late = await patch(url, tok, 10_000, body.subarray(10_000));
    expect(late.status).toBe(410);
    expect(store.countObjects()).toBe(objects);
    await tus.sweep();
    expect(tusFiles().filter((f) => f.startsWith(id))).toEqual([]);
  });
});
