import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { createLocalJWKSet } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { COORDINATOR_AUDIENCE, type UploadComplete } from '../shared/api.js';
import { encodeHeartbeat, type NodeHeartbeat } from '../shared/heartbeat.js';
import { ed25519FromPrivate } from '../shared/keys.js';
import { redisKeys } from '../shared/redis-keys.js';
import { NODE_REPORTS } from '../shared/reports.js';
import { sha256Hex, signNodeRequest, verifyUploadToken } from '../shared/tokens.js';
import { testCoordinator } from '../test/support/coordinator-harness.js';
import { startRedisServer, type TestRedis } from '../test/support/redis-server.js';
import type { ComposedCoordinator } from './compose.js';
import type { CoordinatorDeps } from './deps.js';
import { startSweeper } from './sweeper.js';

const ADMIN = 'test-admin-key-0123456789';
let testRedis: TestRedis;
let redis: Redis;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'fennec-coord-'));
  testRedis = await startRedisServer();
  redis = new Redis(testRedis.url);
});

afterAll(async () => {
  redis?.disconnect();
  await testRedis?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

interface Harness {
  deps: CoordinatorDeps;
  app: ComposedCoordinator['app'];
  prefix: string;
  req(method: string, url: string, opts?: { body?: unknown; auth?: string; headers?: Record<string, string> }): Promise<Response>;
}

function harness(overrides: { rateUser?: number; rateIp?: number; quotaBytes?: number; graceSeconds?: number } = {}): Harness {
  const { deps, app, prefix } = testCoordinator({
    redis,
    tmp,
    env: {
      FENNEC_DEFAULT_QUOTA_BYTES: String(overrides.quotaBytes ?? 10_000_000),
      ...(overrides.graceSeconds !== undefined ? { FENNEC_SESSION_GRACE_SECONDS: String(overrides.graceSeconds) } : {}),
      ...(overrides.rateUser ? { FENNEC_RATE_USER_PER_MIN: String(overrides.rateUser) } : {}),
      ...(overrides.rateIp ? { FENNEC_RATE_IP_PER_MIN: String(overrides.rateIp) } : {}),
    },
  });
  return {
    deps,
    app,
    prefix,
    req: (method, url, opts = {}) =>
      Promise.resolve(
        app.request(url, {
          method,
          headers: {
            ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...(opts.auth ? { authorization: `Bearer ${opts.auth}` } : {}),
            ...opts.headers,
          },
          body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        }),
      ),
  };
}

function nodeKey() {
  return ed25519FromPrivate(generateKeyPairSync('ed25519').privateKey);
}

async function heartbeat(h: Harness, nodeId: string, pools: Array<{ pool_id: string; free: number }>, extra: Partial<NodeHeartbeat> = {}) {
  const keys = redisKeys(h.prefix);
  const hb: NodeHeartbeat = {
    node_id: nodeId,
    version: 'test',
    upload_api_url: `http://${nodeId}.test/api/internal/upload`,
    tus_url: `http://${nodeId}.test/api/internal/tus`,
    ts: Date.now(),
    accepting: true,
    active_uploads: 0,
    queue_depth: 0,
    pools: pools.map((p) => ({
      pool_id: p.pool_id,
      tier: 'hot',
      total_bytes: 1e9,
      free_bytes: p.free,
      used_bytes: 0,
      accepting: true,
      writable: true,
      public_base_url: `http://${nodeId}.test`,
    })),
    ...extra,
  };
  await redis.multi().hset(keys.node(nodeId), encodeHeartbeat(hb)).sadd(keys.nodesIndex(), nodeId).exec();
}

/** An app, one node `n1` with pool `p1` of `free` bytes, heartbeating. */
async function cluster(h: Harness, free = 1_000_000) {
  const key = nodeKey();
  const appRes = await h.req('POST', '/api/v1/admin/apps', { auth: ADMIN, body: { name: 'gallery' } });
  expect(appRes.status).toBe(201);
  const { api_key } = (await appRes.json()) as { api_key: string };
  const nodeRes = await h.req('POST', '/api/v1/admin/nodes', {
    auth: ADMIN,
    body: {
      node_id: 'n1',
      public_key: key.publicJwk,
      upload_api_url: 'http://n1.test/api/internal/upload',
      pools: [{ pool_id: 'p1', tier: 'hot', public_base_url: 'http://n1.test' }],
    },
  });
  expect(nodeRes.status).toBe(201);
  await heartbeat(h, 'n1', [{ pool_id: 'p1', free }]);
  return { apiKey: api_key, key };
}

async function complete(h: Harness, key: ReturnType<typeof nodeKey>, body: UploadComplete, issuer = 'n1') {
  const raw = JSON.stringify(body);
  const token = await signNodeRequest(
    { nodeId: issuer, audience: COORDINATOR_AUDIENCE, purpose: NODE_REPORTS['upload.complete'].purpose, sha256: sha256Hex(raw) },
    key.privateKey,
  );
  return h.app.request('/api/internal/uploads/complete', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: raw,
  });
}

function completion(session_id: string, size = 1000, sha = 'a'.repeat(64)): UploadComplete {
  return {
    session_id,
    image_uuid: randomUUID(),
    user_id: 'u1',
    node_id: 'n1',
    pool_id: 'p1',
    rel_path: `original/2026/01/01/${randomUUID()}.jpg`,
    size,
    sha256: sha,
    mime: 'image/jpeg',
    created_at: new Date().toISOString(),
  };
}

describe('admin', () => {
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });

  it('refuses a wrong or missing admin key', async () => {
    for (const auth of [undefined, 'nope']) {
      const res = await h.req('GET', '/api/v1/admin/apps', { auth });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: 'invalid_admin_key' });
    }
  });

  it('registers nodes idempotently and guards their key', async () => {
    const { key } = await cluster(h);
    const body = { node_id: 'n1', public_key: key.publicJwk, upload_api_url: 'http://n1.test/api/internal/upload' };
    expect((await h.req('POST', '/api/v1/admin/nodes', { auth: ADMIN, body })).status).toBe(200);
    const other = { ...body, public_key: nodeKey().publicJwk };
    const conflict = await h.req('POST', '/api/v1/admin/nodes', { auth: ADMIN, body: other });
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toMatchObject({ error: 'node_key_conflict' });
    expect((await h.req('POST', '/api/v1/admin/nodes', { auth: ADMIN, body: { ...other, replace_key: true } })).status).toBe(200);

    const list = (await (await h.req('GET', '/api/v1/admin/nodes', { auth: ADMIN })).json()) as { nodes: any[] };
    expect(list.nodes[0]).toMatchObject({ node_id: 'n1', status: 'online', accepting: true, active_uploads: 0 });
    expect(list.nodes[0].heartbeat_age_ms).toBeGreaterThanOrEqual(0);
    expect(list.nodes[0].pools[0]).toMatchObject({ pool_id: 'p1', tier: 'hot', free_bytes: 1_000_000, reserved_bytes: 0 });
  });

  it('upserts and patches pools', async () => {
    await cluster(h);
    const p2 = { pool_id: 'p2', node_id: 'n1', tier: 'cold', public_base_url: 'http://n1.test' };
    expect((await h.req('POST', '/api/v1/admin/pools', { auth: ADMIN, body: p2 })).status).toBe(201);
    expect((await h.req('POST', '/api/v1/admin/pools', { auth: ADMIN, body: p2 })).status).toBe(200);
    const bad = await h.req('POST', '/api/v1/admin/pools', { auth: ADMIN, body: { ...p2, node_id: 'nx' } });
    expect(bad.status).toBe(400);
    const patched = await h.req('PATCH', '/api/v1/admin/pools/p2', { auth: ADMIN, body: { weight: 7, accepting: false } });
    expect(await patched.json()).toMatchObject({ pool_id: 'p2', weight: 7, accepting: false, tier: 'cold' });
    expect((await h.req('PATCH', '/api/v1/admin/pools/zz', { auth: ADMIN, body: { weight: 1 } })).status).toBe(404);
    const pools = (await (await h.req('GET', '/api/v1/admin/pools', { auth: ADMIN })).json()) as { pools: unknown[] };
    expect(pools.pools).toHaveLength(2);
    // The node's queue exists but is empty: nothing was uploaded.
    const { queues } = (await (await h.req('GET', '/api/v1/admin/queues', { auth: ADMIN })).json()) as {
      queues: Array<{ node_id: string; counts: Record<string, number> | null }>;
    };
    expect(queues.map((q) => q.node_id)).toEqual(['n1']);
    expect(Object.values(queues[0]!.counts ?? { missing: 1 }).every((n) => n === 0)).toBe(true);
  });
});

describe('upload sessions', () => {
  it('creates a session with a verifiable token and reserves quota', async () => {
    const h = harness();
    const { apiKey } = await cluster(h);
    const res = await h.req('POST', '/api/v1/upload/sessions', { auth: apiKey, body: { user_id: 'u1', file_size: 1234 } });
    expect(res.status).toBe(201);
    const s = (await res.json()) as any;
    expect(s).toMatchObject({
      pool_id: 'p1',
      node_id: 'n1',
      max_size: 1234,
      upload_url: 'http://n1.test/api/internal/upload',
      tus_url: 'http://n1.test/api/internal/tus',
    });
    const claims = await verifyUploadToken(s.token, createLocalJWKSet(h.deps.signingKeys.jwks), {
      nodeId: 'n1',
      issuer: 'fennec-coordinator',
      clockToleranceSeconds: 5,
    });
    expect(claims).toMatchObject({ sub: 'u1', pool: 'p1', sid: s.session_id, jti: s.session_id, max: 1234 });
    const usage = await (await h.req('GET', '/api/v1/users/u1/usage', { auth: apiKey })).json();
    expect(usage).toMatchObject({ used_bytes: 0, reserved_bytes: 1234, objects: 0, quota_bytes: 10_000_000 });
  });

  it('maps bad requests to 401, 400, 413, 403 and 503', async () => {
    const h = harness();
    const { apiKey } = await cluster(h);
    const post = (body: unknown, auth = apiKey) => h.req('POST', '/api/v1/upload/sessions', { auth, body });
    const expectError = async (res: Response, status: number, error: string) => {
      expect(res.status).toBe(status);
      expect(await res.json()).toMatchObject({ error });
    };
    await expectError(await post({ user_id: 'u1', file_size: 1 }, 'fk_wrong'), 401, 'invalid_api_key');
    await expectError(await post({ user_id: 'u1', file_size: 0 }), 400, 'invalid_body');
    await expectError(await post({ user_id: 'u1', file_size: 1, tier: 'lukewarm' }), 400, 'invalid_body');
    await expectError(await post({ user_id: 'u1', file_size: 2_000_000 }), 413, 'too_large');
    await h.req('PUT', '/api/v1/admin/users/u2/quota', { auth: ADMIN, body: { quota_bytes: 100 } });
    await expectError(await post({ user_id: 'u2', file_size: 101 }), 403, 'quota_exceeded');
    await expectError(await post({ user_id: 'u1', file_size: 1, tier: 'cold' }), 503, 'no_capacity');
    await heartbeat(h, 'n1', [{ pool_id: 'p1', free: 1e6 }], { ts: Date.now() - 60_000 });
    await expectError(await post({ user_id: 'u1', file_size: 1 }), 503, 'no_capacity');
  });

  it('gives exactly as many sessions as the pool has room for under concurrency', async () => {
    const h = harness();
    const { apiKey } = await cluster(h, 10_000);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        h.req('POST', '/api/v1/upload/sessions', { auth: apiKey, body: { user_id: `c${i}`, file_size: 1000 } }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(10);
    expect(statuses.filter((s) => s === 503)).toHaveLength(40);
  });

  it('rate limits per user with Retry-After', async () => {
    const h = harness({ rateUser: 2 });
    const { apiKey } = await cluster(h);
    const post = () => h.req('POST', '/api/v1/upload/sessions', { auth: apiKey, body: { user_id: 'r1', file_size: 1 } });
    expect((await post()).status).toBe(201);
    expect((await post()).status).toBe(201);
    const limited = await post();
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('rate limits per client IP from the body', async () => {
    const h = harness({ rateIp: 1 });
    const { apiKey } = await cluster(h);
    const post = (user_id: string, client_ip: string) =>
      h.req('POST', '/api/v1/upload/sessions', { auth: apiKey, body: { user_id, file_size: 1, client_ip } });
    expect((await post('a', '203.0.113.7')).status).toBe(201);
    expect((await post('b', '203.0.113.7')).status).toBe(429);
    expect((await post('c', '203.0.113.8')).status).toBe(201);
  });

  it('counts an app-given native IPv6 client_ip by its /64, like a socket address', async () => {
    const h = harness({ rateIp: 1 });
    const { apiKey } = await cluster(h);
    const post = (user_id: string, client_ip: string) =>
      h.req('POST', '/api/v1/upload/sessions', { auth: apiKey, body: { user_id, file_size: 1, client_ip } });
    expect((await post('a', '2001:db8:1:2::1')).status).toBe(201);
    expect((await post('b', '2001:db8:1:2:ffff::9')).status).toBe(429);
    expect((await post('c', '2001:db8:1:3::1')).status).toBe(201);
  });
});

describe('upload completion', () => {
  it('records the object, settles quota, is idempotent, and serves image, usage and redirect', async () => {
    const h = harness();
    const { apiKey, key } = await cluster(h);
    const sha = 'b'.repeat(64);
    const s = (await (
      await h.req('POST', '/api/v1/upload/sessions', {
        auth: apiKey,
        body: { user_id: 'u1', file_size: 5000, sha256: sha },
      })
    ).json()) as { session_id: string };
    const body = completion(s.session_id, 4000, sha);
    const first = await complete(h, key, body);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ ok: true, duplicate: false });
    const again = await complete(h, key, body);
    expect(await again.json()).toEqual({ ok: true, duplicate: true });

    const usage = await (await h.req('GET', '/api/v1/users/u1/usage', { auth: apiKey })).json();
    expect(usage).toMatchObject({ used_bytes: 4000, reserved_bytes: 0, objects: 1 });
    const pool = h.deps.repos.pools.get('p1')!;
    expect(pool.reserved_bytes).toBe(0);

    const img = (await (await h.req('GET', `/api/v1/images/${body.image_uuid}`, { auth: apiKey })).json()) as any;
    expect(img).toMatchObject({
      image_uuid: body.image_uuid,
      status: 'processing',
      size: 4000,
      user_id: 'u1',
      copies: [{ node_id: 'n1', pool_id: 'p1', state: 'ok', last_scrub_at: null }],
      urls: { original: `http://n1.test/uploads/${body.rel_path}` },
    });
    const redirect = await h.req('GET', `/i/${body.image_uuid}`);
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe(`http://n1.test/uploads/${body.rel_path}`);
    expect((await h.req('GET', `/i/${body.image_uuid}/small`)).status).toBe(404);

    // The same bytes again: a duplicate answer, no new reservation.
    const dup = await h.req('POST', '/api/v1/upload/sessions', { auth: apiKey, body: { user_id: 'u1', file_size: 4000, sha256: sha } });
    expect(dup.status).toBe(200);
    expect(await dup.json()).toMatchObject({ duplicate: true, image_uuid: body.image_uuid });

    // Another app cannot see it.
    const other = (await (await h.req('POST', '/api/v1/admin/apps', { auth: ADMIN, body: { name: 'x' } })).json()) as any;
    expect((await h.req('GET', `/api/v1/images/${body.image_uuid}`, { auth: other.api_key })).status).toBe(404);
  });

  it('refuses bad signatures, other nodes and unknown sessions', async () => {
    const h = harness();
    const { apiKey, key } = await cluster(h);
    const s = (await (
      await h.req('POST', '/api/v1/upload/sessions', { auth: apiKey, body: { user_id: 'u1', file_size: 10 } })
    ).json()) as any;
    expect((await complete(h, nodeKey(), completion(s.session_id))).status).toBe(401);

    const raw = JSON.stringify(completion(s.session_id));
    const token = await signNodeRequest(
      { nodeId: 'n1', audience: COORDINATOR_AUDIENCE, purpose: NODE_REPORTS['upload.complete'].purpose, sha256: sha256Hex('{}') },
      key.privateKey,
    );
    const tampered = await h.app.request('/api/internal/uploads/complete', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: raw,
    });
    expect(tampered.status).toBe(401);

    const k2 = nodeKey();
    await h.req('POST', '/api/v1/admin/nodes', {
      auth: ADMIN,
      body: { node_id: 'n2', public_key: k2.publicJwk, upload_api_url: 'http://n2.test/api/internal/upload' },
    });
    const wrongNode = await complete(h, k2, { ...completion(s.session_id), node_id: 'n2' }, 'n2');
    expect(wrongNode.status).toBe(403);
    const unknown = await complete(h, key, completion(randomUUID()));
    expect(unknown.status).toBe(409);
    expect(await unknown.json()).toMatchObject({ error: 'unknown_session' });
  });

  it('expires abandoned sessions and still records a late completion', async () => {
    const h = harness();
    const { apiKey, key } = await cluster(h);
    const s = (await (
      await h.req('POST', '/api/v1/upload/sessions', { auth: apiKey, body: { user_id: 'u1', file_size: 700 } })
    ).json()) as any;
    const sweeper = startSweeper({ sessions: h.deps.repos.sessions, logger: h.deps.logger, graceMs: 3600_000, intervalMs: 1e9 });
    expect(sweeper.sweep(Date.now())).toBe(0);
    expect(sweeper.sweep(Date.now() + 900_000 + 3600_000 + 1000)).toBe(1);
    sweeper.stop();
    expect(h.deps.repos.users.get(h.deps.repos.apps.list()[0]!.app_id, 'u1').reserved_bytes).toBe(0);
    expect(h.deps.repos.pools.get('p1')!.reserved_bytes).toBe(0);
    expect((await complete(h, key, completion(s.session_id, 600))).status).toBe(200);
    expect(h.deps.repos.users.get(h.deps.repos.apps.list()[0]!.app_id, 'u1')).toMatchObject({
      used_bytes: 600,
      reserved_bytes: 0,
      objects: 1,
    });
  });
});

describe('public', () => {
  it('serves health, readiness and the JWKS', async () => {
    const h = harness();
    expect(await (await h.req('GET', '/health')).json()).toEqual({ status: 'ok' });
    expect((await h.req('GET', '/ready')).status).toBe(200);
    const jwks = (await (await h.req('GET', '/.well-known/jwks.json')).json()) as any;
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: h.deps.signingKeys.kid });
    expect((await h.req('GET', '/metrics')).status).toBe(200);
    expect((await h.req('GET', '/nope')).status).toBe(404);
  });
});

describe('users are an app’s (issue 17)', () => {
  it('keeps usage and quota of the same user_id apart in two apps', async () => {
    const h = harness({ quotaBytes: 1000 });
    const { apiKey: appA } = await cluster(h);
    const bRes = await h.req('POST', '/api/v1/admin/apps', { auth: ADMIN, body: { name: 'other' } });
    const { api_key: appB, app_id: appBId } = (await bRes.json()) as { api_key: string; app_id: string };
    const session = (auth: string, file_size: number) =>
      h.req('POST', '/api/v1/upload/sessions', { auth, body: { user_id: 'alice', file_size } });

    expect((await session(appA, 800)).status).toBe(201);
    // App B sees its own alice, not A's reservation, and cannot spend A's quota.
    const usageB = await (await h.req('GET', '/api/v1/users/alice/usage', { auth: appB })).json();
    expect(usageB).toMatchObject({ reserved_bytes: 0, used_bytes: 0 });
    expect((await session(appB, 900)).status).toBe(201);
    expect((await session(appA, 150)).status).toBe(201);

    // With two apps the admin quota route must be told whose alice it means.
    const noApp = await h.req('PUT', '/api/v1/admin/users/alice/quota', { auth: ADMIN, body: { quota_bytes: 5000 } });
    expect(noApp.status).toBe(400);
    expect(await noApp.json()).toMatchObject({ error: 'app_id_required' });
    const setB = await h.req('PUT', `/api/v1/admin/users/alice/quota?app_id=${appBId}`, { auth: ADMIN, body: { quota_bytes: 5000 } });
    expect(setB.status).toBe(200);
    expect(await setB.json()).toMatchObject({ app_id: appBId, quota_bytes: 5000, reserved_bytes: 900 });
    const usageA = await (await h.req('GET', '/api/v1/users/alice/usage', { auth: appA })).json();
    expect(usageA).toMatchObject({ quota_bytes: 1000, reserved_bytes: 950 });
    const unknownApp = await h.req('PUT', '/api/v1/admin/users/alice/quota?app_id=nope', { auth: ADMIN, body: { quota_bytes: 1 } });
    expect(unknownApp.status).toBe(404);
  });
});

describe('reservations that hold (issue 17)', () => {
  it('signs the session deadline into the token and refuses a late completion past quota', async () => {
    const h = harness({ quotaBytes: 200_000, graceSeconds: 60 });
    const { apiKey, key } = await cluster(h);
    const open = async () =>
      (await (await h.req('POST', '/api/v1/upload/sessions', { auth: apiKey, body: { user_id: 'u1', file_size: 150_000 } })).json()) as any;
    const late = await open();
    const claims = await verifyUploadToken(late.token, createLocalJWKSet(h.deps.signingKeys.jwks), {
      nodeId: 'n1',
      clockToleranceSeconds: 5,
    });
    expect(claims.dl).toBe(Math.ceil((Date.parse(late.expires_at) + 60_000) / 1000));

    // The sweeper gives the first reservation back; a second session takes the bytes.
    const sweeper = startSweeper({ sessions: h.deps.repos.sessions, logger: h.deps.logger, graceMs: 60_000, intervalMs: 1e9 });
    expect(sweeper.sweep(Date.now() + 900_000 + 61_000)).toBe(1);
    sweeper.stop();
    const live = await open();
    expect(live.session_id).toBeDefined();

    // The late upload would take u1 to 300,000 of 200,000: refused, for good, and counted nowhere.
    const body = completion(late.session_id, 150_000);
    const refused = await complete(h, key, body);
    expect(refused.status).toBe(410);
    expect(await refused.json()).toMatchObject({ error: 'upload_refused' });
    expect((await complete(h, key, body)).status).toBe(410);
    const appId = h.deps.repos.apps.list()[0]!.app_id;
    expect(h.deps.repos.users.get(appId, 'u1')).toMatchObject({ used_bytes: 0, reserved_bytes: 150_000, objects: 0 });
    expect((await h.req('GET', `/api/v1/images/${body.image_uuid}`, { auth: apiKey })).status).toBe(404);

    // The live one completes normally, once, however often the outbox delivers it.
    const ok = completion(live.session_id, 150_000);
    expect((await complete(h, key, ok)).status).toBe(200);
    expect(await (await complete(h, key, ok)).json()).toMatchObject({ duplicate: true });
    expect(h.deps.repos.users.get(appId, 'u1')).toMatchObject({ used_bytes: 150_000, reserved_bytes: 0, objects: 1 });
  });
});
