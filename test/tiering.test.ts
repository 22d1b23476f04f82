import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePhoto } from './support/photos.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

const sha = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex');

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

/**
 * Tiering: s01-hot sends objects older than 2 s to the warm pool (s02), s02-hot (warm) sends
 * objects older than 4 s on to the cold pool (s03). At each stage /i/ redirects to the node that
 * has the object, the original is byte-exact and the variants are there; nothing is left behind.
 */
describe('tiering: hot → warm → cold by age', () => {
  let t: TestCluster;
  const sums = new Map<string, string>();

  beforeAll(async () => {
    t = await startTestCluster({
      nodes: 3,
      nodeEnv: {
        FENNEC_HEARTBEAT_INTERVAL_MS: '300',
        FENNEC_JOB_BACKOFF_MS: '200',
        FENNEC_JOB_LOCK_MS: '1500',
        FENNEC_JOB_MARKER_CHECK_MS: '300',
      },
      coordinatorEnv: {
        FENNEC_HEARTBEAT_MAX_AGE_MS: '1500',
        FENNEC_REPAIR_INTERVAL_MS: '200',
        // node-cron with seconds: the policy is applied every second, as a nightly schedule would be once a night.
        FENNEC_TIERING_CRON: '* * * * * *',
        FENNEC_JOB_RETRY_MS: '2000',
      },
    });
    await admin('PATCH', '/api/v1/admin/pools/s02-hot', { tier: 'warm', accepting: false });
    await admin('PATCH', '/api/v1/admin/pools/s03-hot', { tier: 'cold', accepting: false });
    for (let i = 0; i < 2; i++) {
      const photo = await makePhoto({ width: 96, height: 64, seed: 40 + i });
      const up = await t.store('tierer', photo);
      expect(up.node_id).toBe('s01');
      sums.set(up.image_uuid, sha(photo));
    }
    await eventually(
      async () => {
        const statuses = await Promise.all([...sums.keys()].map(async (u) => (await t.appGet(`/api/v1/images/${u}`)).body.status));
        return statuses.every((s) => s === 'ready');
      },
      60_000,
      'every image ready',
    );
  });
  afterAll(async () => {
    await t?.stop();
  });

  const admin = (method: string, route: string, body?: unknown) => t.cluster.admin(method, route, body) as Promise<any>;
  const base = (i: number) => t.cluster.info.nodes[i]!.pools[0]!.base_path;

  /** Every image at `pool` on node index `i`: the redirect, the bytes, the variants. */
  async function servedFrom(pool: string, i: number) {
    await eventually(
      async () => {
        const pools = await Promise.all([...sums.keys()].map(async (u) => (await t.appGet(`/api/v1/images/${u}`)).body.pool_id));
        return pools.every((p) => p === pool);
      },
      60_000,
      `every image at ${pool}`,
    );
    const nodeUrl = t.cluster.info.nodes[i]!.url;
    for (const [uuid, sum] of sums) {
      const res = await fetch(`${t.cluster.info.coordinator_url}/i/${uuid}`, { redirect: 'manual' });
      expect(res.status).toBe(302);
      const location = res.headers.get('location')!;
      expect(location.startsWith(nodeUrl)).toBe(true);
      const file = await fetch(location);
      expect(file.status).toBe(200);
      expect(sha(Buffer.from(await file.arrayBuffer()))).toBe(sum);
      const img = (await t.appGet(`/api/v1/images/${uuid}`)).body;
      expect(img.node_id).toBe(`s0${i + 1}`);
      const variants = Object.values(img.urls.variants as Record<string, string>);
      expect(variants.length).toBeGreaterThan(0);
      for (const url of variants) {
        expect(url.startsWith(nodeUrl)).toBe(true);
        expect((await fetch(url)).status).toBe(200);
      }
    }
  }

  async function emptied(i: number) {
    await eventually(
      async () => filesUnder(path.join(base(i), 'original')).length === 0 && filesUnder(path.join(base(i), 'variants')).length === 0,
      30_000,
      `nothing left on s0${i + 1}`,
    );
  }

  it('rejects a bad policy and shows a good one in the pool view', async () => {
    await expect(admin('PATCH', '/api/v1/admin/pools/s01-hot', { tiering: { after_seconds: 0, to_tier: 'warm' } })).rejects.toThrow();
    const pool = await admin('PATCH', '/api/v1/admin/pools/s01-hot', { tiering: { after_seconds: 2, to_tier: 'warm' } });
    expect(pool.tiering).toEqual({ after_seconds: 2, to_tier: 'warm' });
  });

  it('moves old objects to the warm pool, then on to the cold pool', async () => {
    await servedFrom('s02-hot', 1);
    await emptied(0);
    // Set once the warm stage was checked, so that stage cannot be missed by a fast machine.
    const warm = await admin('PATCH', '/api/v1/admin/pools/s02-hot', { tiering: { after_seconds: 4, to_tier: 'cold' } });
    expect(warm.tiering).toEqual({ after_seconds: 4, to_tier: 'cold' });
    await servedFrom('s03-hot', 2);
    await emptied(0);
    await emptied(1);
    const moves = (await admin('GET', '/api/v1/admin/moves')).moves as { kind: string; state: string }[];
    expect(moves.length).toBeGreaterThanOrEqual(2);
    expect(moves.every((m) => m.kind === 'tier' && m.state === 'done')).toBe(true);
    // The hot pool kept taking uploads throughout.
    const pools = (await admin('GET', '/api/v1/admin/pools')).pools as { pool_id: string; accepting: boolean }[];
    expect(pools.find((p) => p.pool_id === 's01-hot')!.accepting).toBe(true);
  });
});
