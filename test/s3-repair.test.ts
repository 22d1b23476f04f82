import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePhoto } from './support/photos.js';
import { backupTargetFor, s3CredentialsEnv, startS3Server, type TestS3 } from './support/s3-server.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface Copy {
  node_id: string;
  pool_id: string;
  state: string;
}

/**
 * Two nodes backing up to one bucket, replication factor 1: s01 is lost with the only copies of
 * its images, and the coordinator's repair brings each one back from S3 onto s02 (whose pool
 * backs up to the same bucket, as its heartbeat says, so its node can read it); s02 makes the
 * variants again.
 */
describe('repair from S3: the backup is the only copy left', () => {
  let s3: TestS3;
  let t: TestCluster;

  beforeAll(async () => {
    s3 = await startS3Server();
    t = await startTestCluster({
      nodes: 2,
      nodeEnv: {
        ...s3CredentialsEnv(s3),
        FENNEC_JOB_BACKOFF_MS: '200',
        FENNEC_LOG_LEVEL: 'info',
      },
      coordinatorEnv: {
        FENNEC_HEARTBEAT_MAX_AGE_MS: '1500',
        FENNEC_REPAIR_INTERVAL_MS: '300',
        FENNEC_JOB_RETRY_MS: '2000',
        FENNEC_LOG_LEVEL: 'info',
      },
      poolExtra: (i) => ({
        backup: backupTargetFor(s3, `fennec/s0${i + 1}`),
      }),
    });
  });
  afterAll(async () => {
    await t?.stop();
    await s3?.close();
  });

  const poolDir = (nodeIndex: number) => t.cluster.info.nodes[nodeIndex]!.pools[0]!.base_path;
  const image = async (uuid: string) => (await t.appGet(`/api/v1/images/${uuid}`)).body;
  const backupStored = async (uuid: string) => (await image(uuid))?.backup?.state === 'stored';

  it('restores every image of a lost node from S3 onto the surviving node, variants and all', async () => {
    // Every upload goes to s01: s02 never stores a backup, and is known to read the bucket only
    // because its heartbeat says its pool backs up there.
    await t.cluster.admin('PATCH', '/api/v1/admin/pools/s02-hot', { accepting: false });

    const photos: { uuid: string; sum: string; rel: string }[] = [];
    for (const s of [1, 2]) {
      const bytes = await makePhoto({ width: 640, height: 480, seed: s });
      const up = await t.store('alice', bytes);
      expect(up.node_id).toBe('s01');
      photos.push({ uuid: up.image_uuid, sum: sha(bytes), rel: up.urls.original.split('/uploads/')[1]! });
    }
    for (const p of photos) await eventually(() => backupStored(p.uuid), 30_000, `backup of ${p.uuid} stored`);

    await t.cluster.nodes[0]!.kill();
    expect(await t.cluster.admin('POST', '/api/v1/admin/nodes/s01/lost')).toMatchObject({ node_id: 's01', state: 'lost' });

    const s02 = t.cluster.info.nodes[1]!;
    for (const p of photos) {
      await eventually(
        async () => {
          const copies = ((await image(p.uuid)).copies ?? []) as Copy[];
          return copies.some((c) => c.pool_id === 's02-hot' && c.state === 'ok');
        },
        45_000,
        `an ok copy of ${p.uuid} on s02-hot`,
      );
      const file = path.join(poolDir(1), ...p.rel.split('/'));
      expect(sha(readFileSync(file))).toBe(p.sum);
      await eventually(
        async () => {
          const r = await fetch(`${t.cluster.info.coordinator_url}/i/${p.uuid}`, { redirect: 'manual' });
          return r.status === 302 && r.headers.get('location')!.startsWith(s02.url);
        },
        15_000,
        `/i/${p.uuid} to point at s02`,
      );
      const img = await eventually(
        async () => {
          const i = await image(p.uuid);
          return i.status === 'ready' ? i : undefined;
        },
        60_000,
        `${p.uuid} ready`,
      );
      const variantRels = Object.values(img.urls.variants as Record<string, string>).map((u) => u.split('/uploads/')[1]!);
      expect(variantRels.length).toBeGreaterThan(0);
      await eventually(async () => variantRels.every((v) => existsSync(path.join(poolDir(1), v))), 60_000, `variants of ${p.uuid} on s02`);
    }
    const metrics = await (await fetch(`${t.cluster.info.coordinator_url}/metrics`)).text();
    expect(metrics).toMatch(/^fennec_objects_unrestorable 0$/m);
  });
});
