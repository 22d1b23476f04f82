import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeJpeg } from './support/images.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

const MiB = 1024 * 1024;

describe('upload sessions: placement, quotas, limits', () => {
  let t: TestCluster;
  let n = 0;
  const ip = () => `198.51.100.${(n++ % 250) + 1}`;

  beforeAll(async () => {
    t = await startTestCluster({
      poolMaxBytes: 10 * MiB + 512 * 1024,
      coordinatorEnv: { FENNEC_RATE_USER_PER_MIN: '20', FENNEC_RATE_IP_PER_MIN: '30', FENNEC_MAX_FILE_BYTES: String(50 * MiB) },
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('never promises a pool more than it can hold: 50 parallel sessions, room for 10', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => t.createSession({ user_id: `cap-${i}`, file_size: MiB, client_ip: ip() })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(10);
    expect(statuses.filter((s) => s === 503)).toHaveLength(40);
    expect(results.find((r) => r.status === 503)!.body.error).toBe('no_capacity');
  });

  it('rejects bad keys, bad bodies and files over the per-file limit with the README "API" statuses', async () => {
    const badKey = await t.createSession({ user_id: 'u', file_size: 10 }, { authorization: 'Bearer nope' });
    expect(badKey.status).toBe(401);
    expect(badKey.body.error).toBeTypeOf('string');
    for (const body of [
      {},
      { user_id: 'u' },
      { user_id: 'u', file_size: -1 },
      { user_id: 'u', file_size: 'big' },
      { user_id: 'u', file_size: 10, tier: 'lukewarm' },
    ]) {
      const res = await t.createSession({ ...body, client_ip: ip() });
      expect(res.status).toBe(400);
      expect(res.body.error).toBeTypeOf('string');
    }
    const huge = await t.createSession({ user_id: 'u', file_size: 51 * MiB, client_ip: ip() });
    expect(huge).toMatchObject({ status: 413, body: { error: 'too_large' } });
    const cold = await t.createSession({ user_id: 'u', file_size: 10, tier: 'cold', client_ip: ip() });
    expect(cold).toMatchObject({ status: 503, body: { error: 'no_capacity' } });
  });

  it('403 quota_exceeded counts open sessions as reserved; usage settles to the real size', async () => {
    const admin = await t.cluster.admin('PUT', '/api/v1/admin/users/quinn/quota', { quota_bytes: 100_000 });
    expect(admin).toMatchObject({ user_id: 'quinn', quota_bytes: 100_000 });
    const first = await t.createSession({ user_id: 'quinn', file_size: 60_000, client_ip: ip() });
    expect(first.status).toBe(201);
    const second = await t.createSession({ user_id: 'quinn', file_size: 60_000, client_ip: ip() });
    expect(second).toMatchObject({ status: 403, body: { error: 'quota_exceeded' } });

    const up = await t.uploadRaw(first.body, fakeJpeg(60_000));
    expect(up.status).toBe(201);
    const usage = await eventually(
      async () => {
        const u = await t.appGet('/api/v1/users/quinn/usage');
        return u.body.objects === 1 ? u.body : undefined;
      },
      10_000,
      'usage to settle',
    );
    expect(usage).toMatchObject({ used_bytes: 60_000, reserved_bytes: 0, quota_bytes: 100_000, objects: 1 });
  });

  it('429 with Retry-After past the per-user rate, and past the per-IP rate', async () => {
    const perUser = await Promise.all(
      Array.from({ length: 25 }, () => t.createSession({ user_id: 'rita', file_size: 10, client_ip: ip() })),
    );
    const limited = perUser.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(5);
    expect(limited[0]!.body.error).toBe('rate_limited');
    expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThan(0);

    const perIp = await Promise.all(
      Array.from({ length: 35 }, (_, i) => t.createSession({ user_id: `ip-${i}`, file_size: 10, client_ip: '203.0.113.9' })),
    );
    expect(perIp.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(5);
  });

  it('lists nodes with heartbeat age and free space for the operator', async () => {
    const { nodes } = (await t.cluster.admin('GET', '/api/v1/admin/nodes')) as { nodes: any[] };
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({ node_id: 's01' });
    expect(nodes[0].heartbeat_age_ms).toBeLessThan(5000);
    expect(nodes[0].pools[0]).toMatchObject({ pool_id: 's01-hot', total_bytes: 10 * MiB + 512 * 1024 });
    const denied = await fetch(`${t.cluster.info.coordinator_url}/api/v1/admin/nodes`, {
      headers: { authorization: `Bearer ${t.cluster.info.app_key}` },
    });
    expect(denied.status).toBe(401);
  });
  it('deregisters an empty node, and refuses one that still holds files', async () => {
    const admin = (method: string, route: string, body?: unknown) =>
      fetch(`${t.cluster.info.coordinator_url}${route}`, {
        method,
        headers: { authorization: `Bearer ${t.cluster.info.admin_key}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    const x = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x;
    expect(
      (
        await admin('POST', '/api/v1/admin/nodes', {
          node_id: 's99',
          public_key: { kty: 'OKP', crv: 'Ed25519', x },
          upload_api_url: 'http://127.0.0.1:9/api/internal/upload',
          pools: [{ pool_id: 's99-hot', tier: 'hot', public_base_url: 'http://127.0.0.1:9' }],
        })
      ).status,
    ).toBe(201);
    expect(await admin('DELETE', '/api/v1/admin/nodes/s99')).toMatchObject({ status: 200, body: { deregistered: true } });
    const { body } = await admin('GET', '/api/v1/admin/nodes');
    expect(body.nodes.map((n: { node_id: string }) => n.node_id)).toEqual(['s01']);
    expect((await admin('GET', '/api/v1/admin/pools')).body.pools.map((p: { pool_id: string }) => p.pool_id)).toEqual(['s01-hot']);
    expect((await admin('DELETE', '/api/v1/admin/nodes/s99')).status).toBe(404);
    // s01 holds quinn's photo from the quota test.
    expect(await admin('DELETE', '/api/v1/admin/nodes/s01')).toMatchObject({ status: 409, body: { error: 'node_not_empty' } });
  });
});

describe('an abandoned session gives its quota back', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster({ coordinatorEnv: { FENNEC_TOKEN_TTL_SECONDS: '1', FENNEC_SESSION_GRACE_SECONDS: '0' } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('releases the reservation after expiry', async () => {
    await t.cluster.admin('PUT', '/api/v1/admin/users/abby/quota', { quota_bytes: 1000 });
    expect((await t.createSession({ user_id: 'abby', file_size: 800 })).status).toBe(201);
    expect((await t.createSession({ user_id: 'abby', file_size: 800 })).status).toBe(403);
    await eventually(
      async () => (await t.createSession({ user_id: 'abby', file_size: 800 })).status === 201,
      20_000,
      'the reservation to be released',
    );
  });
});
