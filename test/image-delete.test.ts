import { createHash } from 'node:crypto';
import path from 'node:path';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupKey, variantKeyBeside } from '../shared/backup.js';
import { makePhoto } from './support/photos.js';
import { backupTargetFor, s3ClientFor, s3CredentialsEnv, startS3Server, type TestS3 } from './support/s3-server.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const GRACE_S = 5;
const DELAY_S = 8;
const prefix = (i: number) => `fennec/s0${i + 1}`;

/**
 * Image delete end to end: a coordinator, two real nodes (s01 backs up at once with variants,
 * s02 after a delay) and s3rver. An image with copies on both nodes and a backup is deleted:
 * the index forgets it at once, every file goes from both nodes, and the backup goes from the
 * bucket only after the grace period. A delayed backup of an image deleted first is never made.
 */
describe('DELETE /api/v1/images/{uuid}: copies, then the backup after its grace period', () => {
  let s3: TestS3;
  let c: S3Client;
  let t: TestCluster;

  beforeAll(async () => {
    s3 = await startS3Server();
    c = s3ClientFor(s3);
    t = await startTestCluster({
      nodes: 2,
      nodeEnv: {
        ...s3CredentialsEnv(s3),
        FENNEC_BACKUP_BACKOFF_MS: '200',
        FENNEC_BACKUP_RESYNC_MS: '1000',
        FENNEC_JOB_BACKOFF_MS: '200',
        FENNEC_LOG_LEVEL: 'info',
      },
      coordinatorEnv: {
        FENNEC_REPAIR_INTERVAL_MS: '300',
        FENNEC_JOB_RETRY_MS: '1000',
        FENNEC_BACKUP_DELETE_GRACE_SECONDS: String(GRACE_S),
        FENNEC_LOG_LEVEL: 'info',
      },
      poolExtra: (i) => ({
        backup: backupTargetFor(s3, prefix(i), { delay_seconds: i === 0 ? 0 : DELAY_S, include_variants: i === 0 }),
      }),
    });
  });
  afterAll(async () => {
    await t?.stop();
    c?.destroy();
    await s3?.close();
  });

  const pools = () => t.cluster.info.nodes.map((n) => n.pools[0]!.pool_id);
  /** Uploads go to node `i` only; `rf` copies of whatever lands there. */
  const uploadTo = async (i: number, rf: number) => {
    for (const [j, id] of pools().entries())
      await t.cluster.admin('PATCH', `/api/v1/admin/pools/${id}`, { accepting: j === i, replication_factor: j === i ? rf : 1 });
  };
  const image = async (uuid: string) => (await t.appGet(`/api/v1/images/${uuid}`)).body;
  /** Every file of the image (original and variants) in node `i`'s pool. */
  const filesOn = (i: number, uuid: string) =>
    [...t.poolFiles(i, 'original'), ...t.poolFiles(i, 'variants')].filter((f) => f.includes(uuid));
  const nodeRow = (i: number, uuid: string) => {
    const db = new Database(path.join(t.dataDir, 'nodes', `s0${i + 1}`, 'state', 'node.db'), { readonly: true });
    try {
      return db.prepare('SELECT uuid, backup_state, backup_due_at FROM objects WHERE uuid = ?').get(uuid) as
        | { uuid: string; backup_state: string; backup_due_at: number | null }
        | undefined;
    } finally {
      db.close();
    }
  };
  const inBucket = async (key: string) => {
    try {
      await c.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
      return true;
    } catch (err) {
      if (
        (err as { name?: string }).name === 'NotFound' ||
        (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
      )
        return false;
      throw err;
    }
  };
  const del = (uuid: string) =>
    fetch(`${t.cluster.info.coordinator_url}/api/v1/images/${uuid}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${t.cluster.info.app_key}` },
    });
  const durability = async () => (await t.cluster.admin('GET', '/api/v1/admin/durability')) as any;

  it('removes the image from the index at once, its files from every node, and its backup only after the grace', async () => {
    await uploadTo(0, 2);
    const ups = [];
    for (const seed of [1, 2]) ups.push(await t.store('alice', await makePhoto({ width: 640, height: 480, seed })));
    for (const up of ups)
      await eventually(
        async () => {
          const img = await image(up.image_uuid);
          const ok = (img.copies as { state: string }[]).filter((x) => x.state === 'ok').length;
          return img.status === 'ready' && ok === 2 && img.backup.state === 'stored' && filesOn(1, up.image_uuid).length === 9;
        },
        45_000,
        `${up.image_uuid} ready with 2 copies and a backup`,
      );
    const [gone, kept] = [ups[0]!, ups[1]!];
    const img = await image(gone.image_uuid);
    const originalKey = backupKey(prefix(0), rel(img.urls.original));
    const keys = [
      originalKey,
      ...Object.values(img.urls.variants as Record<string, string>).map((u) => variantKeyBeside(originalKey, rel(u))),
    ];
    for (const k of keys) expect(await inBucket(k)).toBe(true);
    expect(filesOn(0, gone.image_uuid)).toHaveLength(9);
    const usageBefore = (await t.appGet('/api/v1/users/alice/usage')).body;

    const res = await del(gone.image_uuid);
    expect(res.status).toBe(204);
    const deletedAt = Date.now();
    // The index forgets it at once: API and /i are 404, the bytes leave the usage, a repeat is 204.
    expect((await t.appGet(`/api/v1/images/${gone.image_uuid}`)).status).toBe(404);
    expect((await fetch(`${t.cluster.info.coordinator_url}/i/${gone.image_uuid}`, { redirect: 'manual' })).status).toBe(404);
    expect((await del(gone.image_uuid)).status).toBe(204);
    const usage = (await t.appGet('/api/v1/users/alice/usage')).body;
    expect(usage.used_bytes).toBe(usageBefore.used_bytes - gone.size);
    expect(usage.objects).toBe(usageBefore.objects - 1);
    // Inside the grace the backup is still there (nothing may delete it before deleted_at + grace).
    expect(await inBucket(originalKey)).toBe(true);
    expect((await durability()).deleted).toMatchObject({ backups_in_grace: 1, backup_grace_seconds: GRACE_S });

    // Files and node rows go from both nodes.
    await eventually(
      async () => [0, 1].every((i) => filesOn(i, gone.image_uuid).length === 0 && !nodeRow(i, gone.image_uuid)),
      30_000,
      'files deleted on both nodes',
    );
    // Then, after the grace, the original's and the variants' keys.
    await eventually(
      async () => {
        for (const k of keys) if (await inBucket(k)) return false;
        return true;
      },
      30_000,
      'backup keys deleted',
    );
    expect(Date.now()).toBeGreaterThanOrEqual(deletedAt + GRACE_S * 1000 - 1000);
    await eventually(
      async () => {
        const d = (await durability()).deleted;
        return d.backups_deleted === 1 && d.copies_to_delete === 0 && d.backups_in_grace === 0 && d.backups_due === 0;
      },
      15_000,
      'the clean-up recorded',
    );

    // The other image is untouched everywhere.
    expect((await image(kept.image_uuid)).status).toBe('ready');
    expect(filesOn(0, kept.image_uuid)).toHaveLength(9);
    expect(filesOn(1, kept.image_uuid)).toHaveLength(9);
    expect(await inBucket(backupKey(prefix(0), rel((await image(kept.image_uuid)).urls.original)))).toBe(true);
    const redirect = await fetch(`${t.cluster.info.coordinator_url}/i/${kept.image_uuid}`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const photo = await fetch(redirect.headers.get('location')!);
    expect(photo.status).toBe(200);
    expect(sha(new Uint8Array(await photo.arrayBuffer()))).toBe(kept.sha256);
  });

  it('an image deleted while its backup is delayed is never backed up', async () => {
    await uploadTo(1, 1);
    const up = await t.store('alice', await makePhoto({ width: 640, height: 480, seed: 7 }));
    const row = await eventually(
      async () => {
        const r = nodeRow(1, up.image_uuid);
        return r?.backup_state === 'pending' ? r : undefined;
      },
      30_000,
      'backup scheduled',
    );
    const key = backupKey(prefix(1), rel((await image(up.image_uuid)).urls.original));
    expect((await del(up.image_uuid)).status).toBe(204);
    await eventually(async () => filesOn(1, up.image_uuid).length === 0 && !nodeRow(1, up.image_uuid), 20_000, 'files deleted');
    // Deleted before it was due, so when it falls due nothing is there to back up.
    expect(Date.now()).toBeLessThan(row.backup_due_at!);
    await eventually(async () => Date.now() > row.backup_due_at! + 2000, DELAY_S * 1000 + 5000, 'past the due time');
    expect(await inBucket(key)).toBe(false);
    expect(s3.created().some((e) => e.key === key)).toBe(false);
    expect((await durability()).deleted.backups_in_grace).toBe(0);
  });
});

function rel(u: string): string {
  return u.split('/uploads/')[1]!;
}
