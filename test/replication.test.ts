import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePhoto } from './support/photos.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const GRACE_MS = 3000;

interface Copy {
  node_id: string;
  pool_id: string;
  state: string;
}

/**
 * Three real nodes and a coordinator: RF 2 copies the original and regenerates variants on
 * another node, scrub repairs a flipped byte from the other copy, a node gone past the grace
 * period is re-replicated, and when it comes back no object keeps more copies than configured.
 */
describe('replication: RF 2, scrub repair, node lost and back', () => {
  let t: TestCluster;
  const uuids: string[] = [];
  const sums = new Map<string, string>();
  const rel = new Map<string, string>();

  beforeAll(async () => {
    t = await startTestCluster({
      nodes: 3,
      nodeEnv: {
        FENNEC_HEARTBEAT_INTERVAL_MS: '300',
        FENNEC_SCRUB_CRON: '* * * * * *',
        FENNEC_JOB_BACKOFF_MS: '200',
        FENNEC_JOB_LOCK_MS: '2000',
        FENNEC_LOG_LEVEL: 'info',
      },
      coordinatorEnv: {
        FENNEC_HEARTBEAT_MAX_AGE_MS: '1500',
        FENNEC_NODE_DOWN_GRACE_MS: String(GRACE_MS),
        FENNEC_REPAIR_INTERVAL_MS: '300',
        FENNEC_JOB_RETRY_MS: '2000',
        FENNEC_LOG_LEVEL: 'info',
      },
    });
    // Uploads land on s01; every pool keeps two copies.
    for (const id of ['s01-hot', 's02-hot', 's03-hot'])
      await t.cluster.admin('PATCH', `/api/v1/admin/pools/${id}`, { replication_factor: 2, accepting: id === 's01-hot' });
  });
  afterAll(async () => {
    await t?.stop();
  });

  const poolDir = (nodeIndex: number) => t.cluster.info.nodes[nodeIndex]!.pools[0]!.base_path;
  const nodeIndex = (nodeId: string) => t.cluster.info.nodes.findIndex((n) => n.node_id === nodeId);
  const image = async (uuid: string) => (await t.appGet(`/api/v1/images/${uuid}`)).body;
  const okCopies = async (uuid: string): Promise<Copy[]> => ((await image(uuid)).copies as Copy[]).filter((c) => c.state === 'ok');
  /** Which nodes hold the original on disk with the right bytes. */
  const holders = (uuid: string): string[] =>
    t.cluster.info.nodes
      .filter((_, i) => {
        const file = path.join(poolDir(i), rel.get(uuid)!);
        return existsSync(file) && sha(readFileSync(file)) === sums.get(uuid);
      })
      .map((n) => n.node_id);

  it('RF 2: an upload to s01 gets a verified original and regenerated variants on another node', async () => {
    for (const seed of [1, 2, 3]) {
      const photo = await makePhoto({ width: 640, height: 480, seed });
      const up = await t.store('alice', photo);
      expect(up.node_id).toBe('s01');
      uuids.push(up.image_uuid);
      sums.set(up.image_uuid, sha(photo));
      rel.set(up.image_uuid, up.urls.original.split('/uploads/')[1]!);
    }
    for (const uuid of uuids) {
      const copies = await eventually(
        async () => {
          const ok = await okCopies(uuid);
          return ok.length === 2 ? ok : undefined;
        },
        30_000,
        `two ok copies of ${uuid}`,
      );
      const other = copies.find((c) => c.node_id !== 's01')!;
      expect(other.node_id).toMatch(/^s0[23]$/);
      expect(holders(uuid).sort()).toEqual(['s01', other.node_id].sort());
      // The replica made its own variants from the original (same recipe, same names).
      const img = await eventually(
        async () => {
          const i = await image(uuid);
          return i.status === 'ready' ? i : undefined;
        },
        30_000,
        `${uuid} ready`,
      );
      const variantRels = Object.values(img.urls.variants as Record<string, string>).map((u) => u.split('/uploads/')[1]!);
      expect(variantRels.length).toBe(8);
      const replicaPool = poolDir(nodeIndex(other.node_id));
      await eventually(async () => variantRels.every((v) => existsSync(path.join(replicaPool, v))), 30_000, 'variants on the replica');
    }
  });

  it('scrub finds a flipped byte in an original and repairs it from the other copy', async () => {
    const uuid = uuids[0]!;
    const file = path.join(poolDir(0), rel.get(uuid)!);
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(file, bytes);
    expect(sha(readFileSync(file))).not.toBe(sums.get(uuid));
    await eventually(async () => sha(readFileSync(file)) === sums.get(uuid), 30_000, 'the original repaired');
    await eventually(async () => (await okCopies(uuid)).length === 2, 15_000, 'both copies ok again');
    const metrics = await (await fetch(`${t.cluster.info.nodes[0]!.url}/metrics`)).text();
    expect(metrics).toMatch(/fennec_node_scrub_objects_total\{outcome="mismatch"\} [1-9]/);
  });

  it('a node gone past the grace period is re-replicated; back again, no object keeps more than 2 copies', async () => {
    await t.cluster.nodes[0]!.stop();
    // While s01 is away its images are served from the other copy.
    const uuid = uuids[1]!;
    await eventually(
      async () => {
        const r = await fetch(`${t.cluster.info.coordinator_url}/i/${uuid}`, { redirect: 'manual' });
        return r.status === 302 && !r.headers.get('location')!.startsWith(t.cluster.info.nodes[0]!.url);
      },
      15_000,
      '/i to point away from s01',
    );
    for (const u of uuids)
      await eventually(
        async () => {
          const on = holders(u);
          return on.includes('s02') && on.includes('s03');
        },
        45_000,
        `${u} copied to the survivors`,
      );
    await t.cluster.startNode(0);
    for (const u of uuids)
      await eventually(
        async () => {
          const ok = await okCopies(u);
          return ok.length === 2 && holders(u).length === 2;
        },
        45_000,
        `${u} back to exactly two copies`,
      );
    for (const u of uuids) {
      const copies = (await image(u)).copies as Copy[];
      expect(copies.length).toBe(2);
      expect(new Set(copies.map((c) => c.node_id)).size).toBe(2);
    }
  });
});
