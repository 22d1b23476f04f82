import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COORDINATOR_AUDIENCE } from '../shared/api.js';
import { encodeHeartbeat, type NodeHeartbeat } from '../shared/heartbeat.js';
import { type JobData, jobId } from '../shared/jobs.js';
import { type Ed25519Key, ed25519FromPrivate } from '../shared/keys.js';
import { redisKeys } from '../shared/redis-keys.js';
import { NODE_KEYS_PATH } from '../shared/replication.js';
import { NODE_REPORTS, type NodeReportKind } from '../shared/reports.js';
import { sha256Hex, signNodeRequest } from '../shared/tokens.js';
import { testCoordinator } from '../test/support/coordinator-harness.js';
import { startRedisServer, type TestRedis } from '../test/support/redis-server.js';

const ADMIN = 'test-admin-key-0123456789';
const GRACE = 60_000;
let testRedis: TestRedis;
let redis: Redis;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'fennec-repl-'));
  testRedis = await startRedisServer();
  redis = new Redis(testRedis.url, { maxRetriesPerRequest: null });
});

afterAll(async () => {
  redis?.disconnect();
  await testRedis?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

interface NodeSpec {
  id: string;
  region: string;
  pools: Array<{ pool_id: string; free: number; replication_factor?: number; weight?: number }>;
}

/** A coordinator with three nodes (n1 eu, n2 eu, n3 us), one pool each, and its durability loop. */
async function cluster(opts: { rf?: number; free?: number } = {}) {
  const { deps, app, prefix } = testCoordinator({
    redis,
    tmp,
    env: { FENNEC_NODE_DOWN_GRACE_MS: String(GRACE), FENNEC_REPAIR_INTERVAL_MS: '1000000' },
  });
  const { db, repos, durability: loop } = deps;
  const keys = redisKeys(prefix);
  const req = async (method: string, url: string, body?: unknown, auth = ADMIN) =>
    app.request(url, {
      method,
      headers: { authorization: `Bearer ${auth}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  const free = opts.free ?? 1e6;
  const specs: NodeSpec[] = [
    { id: 'n1', region: 'eu', pools: [{ pool_id: 'p1', free, replication_factor: opts.rf ?? 1, weight: 1000 }] },
    { id: 'n2', region: 'eu', pools: [{ pool_id: 'p2', free }] },
    { id: 'n3', region: 'us', pools: [{ pool_id: 'p3', free }] },
  ];
  const nodeKeys = new Map<string, Ed25519Key>();
  for (const n of specs) {
    const key = ed25519FromPrivate(generateKeyPairSync('ed25519').privateKey);
    nodeKeys.set(n.id, key);
    const res = await req('POST', '/api/v1/admin/nodes', {
      node_id: n.id,
      public_key: key.publicJwk,
      upload_api_url: `http://${n.id}.test/api/internal/upload`,
      region: n.region,
      pools: n.pools.map((p) => ({
        pool_id: p.pool_id,
        tier: 'hot',
        public_base_url: `http://${n.id}.test`,
        replication_factor: p.replication_factor ?? 1,
        weight: p.weight ?? 100,
      })),
    });
    expect(res.status).toBe(201);
  }
  const frees = new Map(specs.map((n) => [n.id, n.pools.map((p) => ({ pool_id: p.pool_id, free: p.free }))]));
  const beat = async (nodeId: string, ts = Date.now()) => {
    const hb: NodeHeartbeat = {
      node_id: nodeId,
      version: 'test',
      upload_api_url: `http://${nodeId}.test/api/internal/upload`,
      tus_url: `http://${nodeId}.test/api/internal/tus`,
      ts,
      accepting: true,
      active_uploads: 0,
      queue_depth: 0,
      pools: frees.get(nodeId)!.map((p) => ({
        pool_id: p.pool_id,
        tier: 'hot',
        total_bytes: 1e9,
        free_bytes: p.free,
        used_bytes: 0,
        accepting: true,
        writable: true,
        public_base_url: `http://${nodeId}.test`,
      })),
    };
    await redis.multi().hset(keys.node(nodeId), encodeHeartbeat(hb)).sadd(keys.nodesIndex(), nodeId).exec();
  };
  const silence = (nodeId: string) => redis.del(keys.node(nodeId));
  for (const n of specs) await beat(n.id);

  /** A node-signed POST, as the node's outbox sends it. */
  const signed = async (nodeId: string, route: string, purpose: string, body: unknown) => {
    const raw = JSON.stringify(body);
    const token = await signNodeRequest(
      { nodeId, audience: COORDINATOR_AUDIENCE, purpose, sha256: sha256Hex(raw) },
      nodeKeys.get(nodeId)!.privateKey,
    );
    return app.request(route, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: raw,
    });
  };

  const appRes = (await (await req('POST', '/api/v1/admin/apps', { name: 'gallery' })).json()) as { api_key: string };
  /** An upload to p1 on n1, recorded through the real session and completion routes. */
  const upload = async (size = 1000) => {
    const s = (await (await req('POST', '/api/v1/upload/sessions', { user_id: 'u1', file_size: size }, appRes.api_key)).json()) as any;
    expect(s.pool_id).toBe('p1');
    const image_uuid = randomUUID();
    const sha256 = sha256Hex(image_uuid);
    const rel_path = `original/2026/01/01/${image_uuid}.jpg`;
    const res = await signed('n1', '/api/internal/uploads/complete', NODE_REPORTS['upload.complete'].purpose, {
      session_id: s.session_id,
      image_uuid,
      user_id: 'u1',
      node_id: 'n1',
      pool_id: 'p1',
      rel_path,
      size,
      sha256,
      mime: 'image/jpeg',
      created_at: new Date().toISOString(),
    });
    expect(res.status).toBe(200);
    return { image_uuid, sha256, size, rel_path };
  };

  const testQueues: Queue[] = [];
  const job = async (nodeId: string, data: JobData) => {
    const q = new Queue(keys.nodeQueue(nodeId), { connection: redis, prefix: keys.queuePrefix() });
    testQueues.push(q);
    return q.getJob(jobId(data));
  };
  const copies = (uuid: string) =>
    repos.copies
      .ofImage(uuid)
      .map((c) => ({ node_id: c.node_id, pool_id: c.pool_id, state: c.state }))
      .sort((a, b) => (a.pool_id < b.pool_id ? -1 : 1));
  const close = async () => {
    await loop.stop();
    await Promise.all(testQueues.map((q) => q.close()));
    await deps.queues.close();
    db.close();
  };
  return { app, deps, repos, req, beat, silence, signed, upload, job, copies, loop, apiKey: appRes.api_key, close, frees };
}

describe('replication and self-repair', () => {
  it('plans a replica for RF 2, repairs from the survivor when a node goes down, trims the surplus when it is back', async () => {
    const c = await cluster({ rf: 2 });
    const obj = await c.upload();
    expect(c.copies(obj.image_uuid)).toEqual([{ node_id: 'n1', pool_id: 'p1', state: 'ok' }]);

    // Another region is preferred: n3 (us) over n2 (eu, same region as n1).
    await c.loop.tick();
    expect(c.copies(obj.image_uuid)).toEqual([
      { node_id: 'n1', pool_id: 'p1', state: 'ok' },
      { node_id: 'n3', pool_id: 'p3', state: 'pending' },
    ]);
    const replicate: JobData = {
      kind: 'replicate',
      image_uuid: obj.image_uuid,
      target: { node_id: 'n3', pool_id: 'p3', url: 'http://n3.test' },
    };
    const j = await c.job('n1', replicate);
    expect(j?.data).toEqual({ ...replicate, sig: expect.any(String) });
    expect(j?.opts).toMatchObject({ attempts: 5, backoff: { type: 'exponential', delay: 2000 } });
    // A second tick plans nothing more.
    await c.loop.tick();
    expect(c.copies(obj.image_uuid)).toHaveLength(2);

    const stored = {
      image_uuid: obj.image_uuid,
      node_id: 'n3',
      pool_id: 'p3',
      rel_path: obj.rel_path,
      size: obj.size,
      sha256: obj.sha256,
      at: new Date().toISOString(),
    };
    for (let i = 0; i < 2; i++) {
      const res = await c.signed('n3', NODE_REPORTS['copy.stored'].path, 'copy.stored', stored);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true, state: 'ok' });
    }
    expect(c.copies(obj.image_uuid)[1]).toEqual({ node_id: 'n3', pool_id: 'p3', state: 'ok' });

    // The replica reports its own variants: accepted, the object is unchanged.
    const event = {
      event: 'image.ready',
      image_uuid: obj.image_uuid,
      node_id: 'n3',
      pool_id: 'p3',
      width: 10,
      height: 10,
      format: 'jpeg',
      variants: [],
      reason: null,
      at: new Date().toISOString(),
    };
    const ev = await c.signed('n3', '/api/internal/images/ready', NODE_REPORTS['image.ready'].purpose, event);
    expect(ev.status).toBe(200);
    expect(await ev.json()).toMatchObject({ ok: true, replica: true });
    expect(c.repos.objects.get(obj.image_uuid)?.status).toBe('processing');

    // n1 stops heartbeating; past the grace it is down, the primary fails over to n3, and n2 gets a copy from n3.
    await c.silence('n1');
    const later = Date.now() + GRACE + 1000;
    await c.beat('n2', later);
    await c.beat('n3', later);
    const report = await c.loop.tick(later);
    expect(report.liveness.down).toEqual(['n1']);
    expect(c.repos.nodes.get('n1')?.state).toBe('down');
    expect(c.repos.objects.get(obj.image_uuid)).toMatchObject({ pool_id: 'p3', node_id: 'n3' });
    expect(c.copies(obj.image_uuid)).toEqual([
      { node_id: 'n1', pool_id: 'p1', state: 'ok' },
      { node_id: 'n2', pool_id: 'p2', state: 'pending' },
      { node_id: 'n3', pool_id: 'p3', state: 'ok' },
    ]);
    expect(
      await c.job('n3', { kind: 'replicate', image_uuid: obj.image_uuid, target: { node_id: 'n2', pool_id: 'p2', url: 'http://n2.test' } }),
    ).toBeTruthy();
    const redirect = await c.req('GET', `/i/${obj.image_uuid}`);
    expect(redirect.headers.get('location')).toBe(`http://n3.test/uploads/${obj.rel_path}`);

    // n1 is back and n2's copy lands: three good copies for RF 2; the newest (n2) goes.
    const back = Date.now() + GRACE + 2000;
    for (const n of ['n1', 'n2', 'n3']) await c.beat(n, back);
    expect(
      (await c.signed('n2', NODE_REPORTS['copy.stored'].path, 'copy.stored', { ...stored, node_id: 'n2', pool_id: 'p2' })).status,
    ).toBe(200);
    const r2 = await c.loop.tick(back);
    expect(r2.liveness.back).toEqual(['n1']);
    expect(r2.surplus.marked).toBe(1);
    expect(c.copies(obj.image_uuid)).toEqual([
      { node_id: 'n1', pool_id: 'p1', state: 'ok' },
      { node_id: 'n2', pool_id: 'p2', state: 'deleting' },
      { node_id: 'n3', pool_id: 'p3', state: 'ok' },
    ]);
    const del = await c.job('n2', { kind: 'delete', image_uuid: obj.image_uuid, pool_id: 'p2' });
    expect(del?.data).toEqual({ kind: 'delete', image_uuid: obj.image_uuid, pool_id: 'p2', sig: expect.any(String) });
    const deleted = { image_uuid: obj.image_uuid, node_id: 'n2', pool_id: 'p2', at: new Date().toISOString() };
    expect(await (await c.signed('n2', NODE_REPORTS['copy.deleted'].path, 'copy.deleted', deleted)).json()).toEqual({
      ok: true,
      removed: true,
    });
    expect(await (await c.signed('n2', NODE_REPORTS['copy.deleted'].path, 'copy.deleted', deleted)).json()).toEqual({
      ok: true,
      removed: false,
    });
    expect(c.copies(obj.image_uuid)).toHaveLength(2);

    const img = (await (await c.req('GET', `/api/v1/images/${obj.image_uuid}`, undefined, c.apiKey)).json()) as any;
    expect(img.copies).toHaveLength(2);
    expect(img.copies[0]).toMatchObject({ state: 'ok', last_scrub_at: null });
    const metrics = await (await c.req('GET', '/metrics')).text();
    expect(metrics).toMatch(/fennec_copies\{state="ok"\} 2/);
    expect(metrics).toMatch(/fennec_node_state\{node="n1",state="up"\} 1/);
    await c.close();
  });

  it('refuses copy reports that do not match, and repairs a corrupt copy in place', async () => {
    const c = await cluster({ rf: 2 });
    const obj = await c.upload();
    const stored = {
      image_uuid: obj.image_uuid,
      node_id: 'n2',
      pool_id: 'p2',
      rel_path: obj.rel_path,
      size: obj.size,
      sha256: obj.sha256,
      at: new Date().toISOString(),
    };
    const post = (nodeId: string, body: unknown, kind: NodeReportKind = 'copy.stored') =>
      c.signed(nodeId, NODE_REPORTS[kind].path, kind, body);
    expect((await post('n2', { ...stored, sha256: 'f'.repeat(64) })).status).toBe(422);
    expect((await post('n2', { ...stored, pool_id: 'p3' })).status).toBe(409);
    expect((await post('n3', stored)).status).toBe(403);
    expect((await post('n2', { ...stored, image_uuid: randomUUID() })).status).toBe(404);
    // An unplanned but verified copy on the node's own pool is recorded.
    expect((await post('n2', stored)).status).toBe(200);

    const corrupt = { image_uuid: obj.image_uuid, node_id: 'n2', pool_id: 'p2', reason: 'mismatch', at: new Date().toISOString() };
    for (let i = 0; i < 2; i++) expect(await (await post('n2', corrupt, 'copy.corrupt')).json()).toEqual({ ok: true, known: true });
    expect(c.repos.copies.get(obj.image_uuid, 'p2')).toMatchObject({ state: 'corrupt', reason: 'mismatch' });
    const scrubbed = { node_id: 'n1', pool_id: 'p1', image_uuids: [obj.image_uuid], at: new Date().toISOString() };
    expect(await (await post('n1', scrubbed, 'copies.scrubbed')).json()).toEqual({ ok: true, updated: 1 });
    expect(c.repos.copies.get(obj.image_uuid, 'p1')?.last_scrub_at).toBe(Date.parse(scrubbed.at));

    await c.loop.tick();
    // Rewritten from n1's good copy onto the corrupt copy's own pool.
    expect(
      await c.job('n1', { kind: 'replicate', image_uuid: obj.image_uuid, target: { node_id: 'n2', pool_id: 'p2', url: 'http://n2.test' } }),
    ).toBeTruthy();
    // Being rewritten in place, it still counts: no third copy is planned meanwhile.
    expect(c.copies(obj.image_uuid)).toHaveLength(2);
    expect((await post('n2', stored)).status).toBe(200);
    expect(c.repos.copies.get(obj.image_uuid, 'p2')?.state).toBe('ok');
    await c.close();
  });

  it('declares a node lost at once: copies leave the index, primaries fail over, DELETE waits for it to be empty', async () => {
    const c = await cluster({ rf: 2 });
    const obj = await c.upload();
    await c.signed('n2', NODE_REPORTS['copy.stored'].path, 'copy.stored', {
      image_uuid: obj.image_uuid,
      node_id: 'n2',
      pool_id: 'p2',
      rel_path: obj.rel_path,
      size: obj.size,
      sha256: obj.sha256,
      at: new Date().toISOString(),
    });
    expect((await c.req('DELETE', '/api/v1/admin/nodes/n2')).status).toBe(409);
    const res = await c.req('POST', '/api/v1/admin/nodes/n1/lost');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ node_id: 'n1', state: 'lost', copies_removed: 1, primaries_switched: 1 });
    expect(c.repos.objects.get(obj.image_uuid)).toMatchObject({ node_id: 'n2', pool_id: 'p2' });
    await c.loop.tick();
    // Repaired from n2 onto n3, never back onto the lost n1 even though it still heartbeats.
    expect(c.copies(obj.image_uuid)).toEqual([
      { node_id: 'n2', pool_id: 'p2', state: 'ok' },
      { node_id: 'n3', pool_id: 'p3', state: 'pending' },
    ]);
    const nodes = (await (await c.req('GET', '/api/v1/admin/nodes')).json()) as any;
    expect(nodes.nodes.map((n: any) => n.state)).toEqual(['lost', 'up', 'up']);
    // Sessions are never placed on it either.
    const s = await c.req('POST', '/api/v1/upload/sessions', { user_id: 'u1', file_size: 10 }, c.apiKey);
    expect(((await s.json()) as any).node_id).not.toBe('n1');
    await c.close();
  });

  it('re-adds a job Redis lost, and gives a pending copy up after 5 adds so it is planned again', async () => {
    const c = await cluster({ rf: 2 });
    const obj = await c.upload();
    await c.loop.tick();
    const data: JobData = {
      kind: 'replicate',
      image_uuid: obj.image_uuid,
      target: { node_id: 'n3', pool_id: 'p3', url: 'http://n3.test' },
    };
    let t = Date.now();
    for (let adds = 1; adds < 5; adds++) {
      await (await c.job('n1', data))!.remove();
      t += 31_000;
      for (const n of ['n1', 'n2', 'n3']) await c.beat(n, t);
      await c.loop.tick(t);
      expect(await c.job('n1', data)).toBeTruthy();
      expect(c.repos.copies.get(obj.image_uuid, 'p3')).toMatchObject({ state: 'pending', attempts: adds + 1 });
    }
    t += 31_000;
    for (const n of ['n1', 'n2', 'n3']) await c.beat(n, t);
    const report = await c.loop.tick(t);
    expect(report.copyJobs.givenUp).toBe(1);
    // Given up on n3 and planned again in the same tick, elsewhere while another node has room.
    expect(report.replicas.planned).toBe(1);
    expect(c.copies(obj.image_uuid)).toEqual([
      { node_id: 'n1', pool_id: 'p1', state: 'ok' },
      { node_id: 'n2', pool_id: 'p2', state: 'pending' },
    ]);
    await c.close();
  });

  it('publishes every node key as a JWKS', async () => {
    const c = await cluster();
    const res = await c.req('GET', NODE_KEYS_PATH);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toMatch(/max-age=60/);
    const jwks = (await res.json()) as { keys: any[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual(['n1', 'n2', 'n3']);
    for (const k of jwks.keys) {
      expect(k).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(k.d).toBeUndefined();
    }
    await c.close();
  });
});

describe('pool moves', () => {
  it('checks, dry-runs, runs, switches the index once per item, finishes and restores accepting', async () => {
    const c = await cluster();
    const a = await c.upload(1000);
    const b = await c.upload(2000);
    const post = (pool: string, body: unknown) => c.req('POST', `/api/v1/admin/pools/${pool}/move`, body);

    const dry = await post('p1', { target_pool_id: 'p2', dry_run: true });
    expect(dry.status).toBe(200);
    expect(await dry.json()).toMatchObject({ dry_run: true, ok: true, objects: 2, bytes: 3000, target_free_bytes: 1e6 });
    expect(((await (await c.req('GET', '/api/v1/admin/moves')).json()) as any).moves).toEqual([]);
    expect(c.repos.pools.get('p1')?.accepting).toBe(1);

    expect((await post('px', { target_pool_id: 'p2' })).status).toBe(404);
    expect((await post('p1', { target_pool_id: 'px' })).status).toBe(404);
    expect((await post('p1', { target_pool_id: 'p1' })).status).toBe(400);
    await c.silence('n3');
    expect(await (await post('p1', { target_pool_id: 'p3' })).json()).toMatchObject({ error: 'target_unreachable' });
    c.frees.get('n2')![0]!.free = 2999;
    await c.beat('n2');
    const full = await post('p1', { target_pool_id: 'p2' });
    expect(full.status).toBe(507);
    expect(await full.json()).toMatchObject({ error: 'target_full' });
    c.frees.get('n2')![0]!.free = 1e6;
    await c.beat('n2');

    const created = await post('p1', { target_pool_id: 'p2' });
    expect(created.status).toBe(201);
    const move = (await created.json()) as any;
    expect(move).toMatchObject({ state: 'running', kind: 'move', counts: { planned: 2, queued: 0 }, bytes: { planned: 3000, done: 0 } });
    expect(c.repos.pools.get('p1')?.accepting).toBe(0);
    expect(await (await post('p1', { target_pool_id: 'p2' })).json()).toMatchObject({ error: 'move_running' });

    await c.loop.tick();
    const jobData: JobData = {
      kind: 'move',
      image_uuid: a.image_uuid,
      move_id: move.move_id,
      target: { node_id: 'n2', pool_id: 'p2', url: 'http://n2.test' },
    };
    expect((await c.job('n1', jobData))?.data).toEqual({ ...jobData, sig: expect.any(String) });
    expect(((await (await c.req('GET', `/api/v1/admin/moves/${move.move_id}`)).json()) as any).counts).toMatchObject({
      planned: 0,
      queued: 2,
    });

    const item = {
      move_id: move.move_id,
      image_uuid: a.image_uuid,
      node_id: 'n1',
      outcome: 'copied',
      target_pool_id: 'p2',
      bytes: 1500,
      error: null,
    };
    for (let i = 0; i < 2; i++) {
      const res = await c.signed('n1', NODE_REPORTS['move.item'].path, NODE_REPORTS['move.item'].purpose, item);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true, delete_source: true });
      expect(c.copies(a.image_uuid)).toEqual([{ node_id: 'n2', pool_id: 'p2', state: 'ok' }]);
      expect(c.repos.objects.get(a.image_uuid)).toMatchObject({ pool_id: 'p2', node_id: 'n2' });
    }
    expect(
      (await c.signed('n1', NODE_REPORTS['move.item'].path, NODE_REPORTS['move.item'].purpose, { ...item, move_id: 'nope' })).status,
    ).toBe(404);
    expect(
      (await c.signed('n2', NODE_REPORTS['move.item'].path, NODE_REPORTS['move.item'].purpose, { ...item, node_id: 'n2' })).status,
    ).toBe(403);
    const missing = await c.signed('n1', NODE_REPORTS['move.item'].path, NODE_REPORTS['move.item'].purpose, {
      ...item,
      image_uuid: b.image_uuid,
      outcome: 'missing',
      bytes: 0,
      error: 'ENOENT',
    });
    expect(await missing.json()).toEqual({ ok: true, delete_source: false });

    await c.loop.tick();
    const done = (await (await c.req('GET', `/api/v1/admin/moves/${move.move_id}`)).json()) as any;
    expect(done).toMatchObject({
      state: 'done',
      counts: { done: 1, missing: 1, planned: 0, queued: 0 },
      bytes: { done: 1500 },
      failures: [{ image_uuid: b.image_uuid, state: 'missing', error: 'ENOENT' }],
    });
    expect(done.finished_at).not.toBeNull();
    expect(c.repos.pools.get('p1')?.accepting).toBe(1);
    expect((await c.req('POST', `/api/v1/admin/moves/${move.move_id}/pause`)).status).toBe(409);
    await c.close();
  });

  it('pauses, resumes and cancels', async () => {
    const c = await cluster();
    await c.upload();
    const move = (await (await c.req('POST', '/api/v1/admin/pools/p1/move', { target_pool_id: 'p2' })).json()) as any;
    const act = (a: string) => c.req('POST', `/api/v1/admin/moves/${move.move_id}/${a}`);
    expect(await (await act('pause')).json()).toMatchObject({ state: 'paused' });
    await c.loop.tick();
    expect(c.repos.moves.counts(move.move_id).counts.planned).toBe(1);
    expect((await act('pause')).status).toBe(409);
    expect(await (await act('resume')).json()).toMatchObject({ state: 'running' });
    expect(await (await act('cancel')).json()).toMatchObject({ state: 'cancelled' });
    expect((await act('resume')).status).toBe(409);
    expect(c.repos.pools.get('p1')?.accepting).toBe(1);
    await c.close();
  });

  it('drains a node into moves and retires it once empty', async () => {
    const c = await cluster();
    const a = await c.upload();
    const res = await c.req('POST', '/api/v1/admin/nodes/n1/drain');
    expect(res.status).toBe(202);
    const body = (await res.json()) as any;
    expect(body.moves).toHaveLength(1);
    expect(body.moves[0]).toMatchObject({ kind: 'drain', source_pool_id: 'p1' });
    expect(c.repos.nodes.get('n1')?.state).toBe('draining');
    await c.loop.tick();
    const target = body.moves[0].target_pool_id as string;
    const report = {
      move_id: body.moves[0].move_id,
      image_uuid: a.image_uuid,
      node_id: 'n1',
      outcome: 'copied',
      target_pool_id: target,
      bytes: 1000,
      error: null,
    };
    expect((await c.signed('n1', NODE_REPORTS['move.item'].path, NODE_REPORTS['move.item'].purpose, report)).status).toBe(200);
    await c.loop.tick();
    expect(c.repos.nodes.get('n1')?.state).toBe('retired');
    // A drain never gives the pool back to placement.
    expect(c.repos.pools.get('p1')?.accepting).toBe(0);
    expect((await c.req('DELETE', '/api/v1/admin/nodes/n1')).status).toBe(200);
    await c.close();
  });
});
