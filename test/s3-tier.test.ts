import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocatePorts, waitForPort } from '../scripts/cluster/ports.js';
import { renderNodeSite } from '../scripts/operators/nginx.js';
import type { SessionResponse } from '../shared/api.js';
import type { DeleteJob } from '../shared/jobs.js';
import { createLogger } from '../shared/logger.js';
import { type CopyJobDeps, deleteHandler } from '../storage-node/jobs/copy-jobs.js';
import { PoolSet } from '../storage-node/pools.js';
import type { LocalObject } from '../storage-node/replication/local-objects.js';
import { NGINX, startNginx } from './support/nginx.js';
import { makePhoto } from './support/photos.js';
import { s3ClientFor, s3CredentialsEnv, startS3Server, type TestS3 } from './support/s3-server.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const PREFIX = 'fennec/cold';

const client = (s3: TestS3): S3Client => s3ClientFor(s3);

async function inBucket(c: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await c.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw err;
  }
}

/**
 * The S3 cold tier with real processes: node s01 has its disk pool s01-hot and the s3 pool
 * `cold` (a bucket in s3rver); s01-hot keeps 2 copies, so s02 holds a replica of each image.
 * A tiering policy moves both images (one public, one private) into the bucket: the image API
 * and /i/ follow, the node redirects to presigned URLs, the disk pools end up empty (s02's
 * replicas are trimmed as surplus), the bucket has every file under `{prefix}/{rel path}`.
 */
describe('S3 cold tier: hot → an s3 pool of the same node', () => {
  let s3: TestS3;
  let c: S3Client;
  let t: TestCluster;
  const sums = new Map<string, string>();
  let publicUuid = '';
  let privateUuid = '';

  const admin = (method: string, route: string, body?: unknown) => t.cluster.admin(method, route, body) as Promise<any>;
  const nodeUrl = () => t.cluster.info.nodes[0]!.url;
  const image = async (uuid: string) => (await t.appGet(`/api/v1/images/${uuid}`)).body;

  beforeAll(async () => {
    s3 = await startS3Server('fennec-cold');
    c = client(s3);
    t = await startTestCluster({
      nodes: 2,
      nodeEnv: {
        ...s3CredentialsEnv(s3),
        FENNEC_HEARTBEAT_INTERVAL_MS: '300',
        FENNEC_JOB_BACKOFF_MS: '200',
        FENNEC_JOB_LOCK_MS: '1500',
        FENNEC_JOB_MARKER_CHECK_MS: '300',
      },
      coordinatorEnv: {
        FENNEC_HEARTBEAT_MAX_AGE_MS: '1500',
        FENNEC_REPAIR_INTERVAL_MS: '200',
        FENNEC_TIERING_INTERVAL_MS: '300',
        FENNEC_JOB_RETRY_MS: '2000',
        FENNEC_PRIVATE_URL_TTL_SECONDS: '600',
      },
    });
    // The launcher builds one disk pool per node: s01 comes back with the s3 pool beside it.
    const node = t.cluster.nodes[0]!;
    await node.stop();
    const env = node.spec.env!;
    const pools = JSON.parse(env.FENNEC_POOLS!) as unknown[];
    env.FENNEC_POOLS = JSON.stringify([
      ...pools,
      {
        id: 'cold',
        tier: 'cold',
        type: 's3',
        public_base_url: `${nodeUrl()}/cold`,
        s3: { endpoint: s3.url, bucket: s3.bucket, prefix: PREFIX, force_path_style: true },
        presign_seconds: 600,
      },
    ]);
    await t.cluster.startNode(0);
    await admin('PATCH', '/api/v1/admin/pools/s02-hot', { accepting: false });
    await admin('PATCH', '/api/v1/admin/pools/s01-hot', { replication_factor: 2 });
    for (const [i, visibility] of (['public', 'private'] as const).entries()) {
      const photo = await makePhoto({ width: 96, height: 64, seed: 70 + i });
      // s01's heartbeat key went with its restart: until the next beat is seen, a 503.
      const s = await eventually(
        async () => {
          const res = await t.createSession({ user_id: 'tierer', file_size: photo.length, visibility });
          if (res.status !== 201 && res.status !== 503) throw new Error(`session → ${res.status} ${JSON.stringify(res.body)}`);
          return res.status === 201 ? (res.body as SessionResponse) : undefined;
        },
        15_000,
        'an upload session',
      );
      const up = await t.uploadRaw(s, photo);
      expect(up.status).toBe(201);
      expect(up.body.node_id).toBe('s01');
      sums.set(up.body.image_uuid, sha(photo));
      if (visibility === 'public') publicUuid = up.body.image_uuid;
      else privateUuid = up.body.image_uuid;
    }
    // Ready, and replicated to s02: its copies are what must be trimmed once the bucket has them.
    await eventually(
      async () => {
        const imgs = await Promise.all([...sums.keys()].map(image));
        return imgs.every((img) => img.status === 'ready' && img.copies.filter((x: any) => x.state === 'ok').length === 2);
      },
      45_000,
      'every image ready with 2 copies',
    );
  }, 90_000);
  afterAll(async () => {
    await t?.stop();
    c?.destroy();
    await s3?.close();
  });

  it('registers the s3 pool with its rules: factor 1, never accepting; no tiering out of it', async () => {
    const base = { pool_id: 'cold', node_id: 's01', tier: 'cold', type: 's3', public_base_url: `${nodeUrl()}/cold` };
    await expect(admin('POST', '/api/v1/admin/pools', { ...base, replication_factor: 2 })).rejects.toThrow(/400/);
    await expect(admin('POST', '/api/v1/admin/pools', { ...base, accepting: true })).rejects.toThrow(/400/);
    const pool = await admin('POST', '/api/v1/admin/pools', base);
    expect(pool).toMatchObject({ pool_id: 'cold', type: 's3', accepting: false, replication_factor: 1 });
    await expect(admin('PATCH', '/api/v1/admin/pools/cold', { accepting: true })).rejects.toThrow(/400/);
    await expect(admin('PATCH', '/api/v1/admin/pools/cold', { tiering: { after_seconds: 1, to_tier: 'warm' } })).rejects.toThrow(/400/);
    await expect(admin('POST', '/api/v1/admin/pools', { ...base, type: 'disk' })).rejects.toThrow(/409/);
    const hot = (await admin('GET', '/api/v1/admin/pools')).pools.find((p: any) => p.pool_id === 's01-hot');
    expect(hot.type).toBe('disk');
    // The heartbeat shows the bucket as a non-accepting s3 pool; uploads still go to s01-hot.
    const nodes = (await admin('GET', '/api/v1/admin/nodes')).nodes as any[];
    const cold = nodes.find((n) => n.node_id === 's01').pools.find((p: any) => p.pool_id === 'cold');
    expect(cold).toMatchObject({ type: 's3', accepting: false, writable: true });
    expect(cold.free_bytes).toBeGreaterThan(2 ** 49);
  });

  it('moves both images into the bucket; URLs and /i/ follow; nothing left on disk', async () => {
    const variantsBefore = new Map<string, string[]>();
    for (const uuid of sums.keys()) variantsBefore.set(uuid, Object.keys((await image(uuid)).urls.variants));
    const pool = await admin('PATCH', '/api/v1/admin/pools/s01-hot', { tiering: { after_seconds: 1, to_tier: 'cold' } });
    expect(pool.tiering).toEqual({ after_seconds: 1, to_tier: 'cold' });

    await eventually(
      async () => {
        const imgs = await Promise.all([...sums.keys()].map(image));
        return imgs.every((img) => img.pool_id === 'cold' && img.copies.length === 1);
      },
      45_000,
      'every image in the cold pool, its only copy',
    );
    // s01's files moved out, s02's replicas were surplus and went: both disks are empty.
    await eventually(
      async () => {
        const left = [0, 1].flatMap((i) => ['original', 'variants', 'private'].flatMap((d) => t.poolFiles(i, d)));
        return left.length === 0;
      },
      30_000,
      'nothing left in the disk pools',
    );
    for (const uuid of sums.keys()) {
      const img = await image(uuid);
      expect(img.copies).toEqual([expect.objectContaining({ pool_id: 'cold', node_id: 's01', state: 'ok' })]);
      expect(Object.keys(img.urls.variants)).toEqual(variantsBefore.get(uuid));
      const rel = new URL(img.urls.original).pathname.replace(/^\/cold\/uploads\//, '');
      expect(await inBucket(c, s3.bucket, `${PREFIX}/${rel}`)).toBe(true);
    }
    const moves = (await admin('GET', '/api/v1/admin/moves')).moves as { kind: string; state: string; target_pool_id: string }[];
    expect(moves.length).toBeGreaterThanOrEqual(1);
    expect(moves.every((m) => m.kind === 'tier' && m.state === 'done' && m.target_pool_id === 'cold')).toBe(true);
    // The durability summary counts them as living in the bucket: not at risk, nothing to scrub.
    const summary = await admin('GET', '/api/v1/admin/durability');
    expect(summary.classes).toEqual([
      expect.objectContaining({
        protection: 'S3 cold tier',
        copies: 0,
        s3: true,
        cold: true,
        at_risk: false,
        lost: false,
        objects: sums.size,
      }),
    ]);
    expect(summary.unscrubbed_copies).toBe(0);
  });

  it('a public image: /i/ → the node → a presigned bucket URL with the exact bytes; every variant resolves', async () => {
    const res = await fetch(`${t.cluster.info.coordinator_url}/i/${publicUuid}`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const atNode = res.headers.get('location')!;
    expect(atNode.startsWith(`${nodeUrl()}/cold/uploads/original/`)).toBe(true);
    const redirect = await fetch(atNode, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('cache-control')).toMatch(/^public, max-age=\d+$/);
    const bucketUrl = redirect.headers.get('location')!;
    expect(bucketUrl.startsWith(s3.url)).toBe(true);
    expect(new URL(bucketUrl).searchParams.get('X-Amz-Signature')).toBeTruthy();
    const file = await fetch(bucketUrl);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('image/jpeg');
    expect(sha(new Uint8Array(await file.arrayBuffer()))).toBe(sums.get(publicUuid));
    // Within a half presign period the node hands out the same URL (cacheable downstream).
    expect((await fetch(atNode, { redirect: 'manual' })).headers.get('location')).toBe(bucketUrl);

    const img = await image(publicUuid);
    const variants = Object.entries(img.urls.variants as Record<string, string>);
    expect(variants.length).toBeGreaterThan(0);
    for (const [name, url] of variants) {
      const v = await fetch(url);
      expect(v.status, name).toBe(200);
      expect((await v.arrayBuffer()).byteLength, name).toBeGreaterThan(0);
      const viaI = await fetch(`${t.cluster.info.coordinator_url}/i/${publicUuid}/${name}`);
      expect(viaI.status, name).toBe(200);
      await viaI.arrayBuffer();
    }
    // Outside the pool's served paths, or a path that is no key of ours: 404 at the node.
    expect((await fetch(`${nodeUrl()}/cold/uploads/tmp/x.part`, { redirect: 'manual' })).status).toBe(404);
    expect((await fetch(`${nodeUrl()}/cold/uploads/original/../x`, { redirect: 'manual' })).status).toBe(404);
  });

  it('a private image: only its signed URL gets a (short-lived) bucket URL; unsigned is a 403', async () => {
    const img = await image(privateUuid);
    const signed = img.urls.original as string;
    expect(new URL(signed).pathname.startsWith('/cold/uploads/private/original/')).toBe(true);
    const redirect = await fetch(signed, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('cache-control')).toBe('private, no-store');
    const bucketUrl = new URL(redirect.headers.get('location')!);
    const expiresIn = Number(bucketUrl.searchParams.get('X-Amz-Expires'));
    expect(expiresIn).toBeGreaterThan(0);
    expect(expiresIn).toBeLessThanOrEqual(600);
    const file = await fetch(bucketUrl);
    expect(file.status).toBe(200);
    expect(sha(new Uint8Array(await file.arrayBuffer()))).toBe(sums.get(privateUuid));

    expect((await fetch(signed.split('?')[0]!, { redirect: 'manual' })).status).toBe(403);
    const tampered = new URL(signed);
    tampered.searchParams.set('exp', String(Number(tampered.searchParams.get('exp')) + 60));
    expect((await fetch(tampered, { redirect: 'manual' })).status).toBe(403);
    for (const url of Object.values(img.urls.variants as Record<string, string>)) {
      const v = await fetch(url);
      expect(v.status, url).toBe(200);
      await v.arrayBuffer();
      expect((await fetch(url.split('?')[0]!, { redirect: 'manual' })).status).toBe(403);
    }
    // /i/ of a private image: the owner's app key gets a signed node URL, and on from there.
    const viaI = await fetch(`${t.cluster.info.coordinator_url}/i/${privateUuid}`, {
      headers: { authorization: `Bearer ${t.cluster.info.app_key}` },
    });
    expect(viaI.status).toBe(200);
    expect(sha(new Uint8Array(await viaI.arrayBuffer()))).toBe(sums.get(privateUuid));
  });

  it.skipIf(!existsSync(NGINX))("nginx passes the s3 pool's /uploads/ to the node, which redirects to the bucket", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fennec-s3-nginx-'));
    const [port] = (await allocatePorts(1)) as [number];
    const node = t.cluster.info.nodes[0]!;
    writeFileSync(
      path.join(dir, 'node.conf'),
      renderNodeSite({
        nodeId: node.node_id,
        listen: `127.0.0.1:${port}`,
        serverName: 'localhost',
        nodeUpstream: new URL(node.url).host,
        maxBody: '8m',
        pools: [
          { pool_id: 's01-hot', dir: node.pools[0]!.base_path, public_base_url: node.url },
          { pool_id: 'cold', type: 's3', dir: '', public_base_url: `${node.url}/cold` },
        ],
      }),
    );
    const nginx = await startNginx(dir, { sites: ['node.conf'] });
    try {
      await waitForPort(port);
      const via = (url: string) => {
        const u = new URL(url);
        u.port = String(port);
        return u.toString();
      };
      for (const uuid of [publicUuid, privateUuid]) {
        const img = await image(uuid);
        const res = await fetch(via(img.urls.original), { redirect: 'manual' });
        expect(res.status, uuid).toBe(302);
        expect(res.headers.get('server')).toBe('nginx');
        expect(res.headers.get('access-control-allow-origin')).toBe('*');
        const file = await fetch(res.headers.get('location')!);
        expect(sha(new Uint8Array(await file.arrayBuffer()))).toBe(sums.get(uuid));
        if (uuid === privateUuid) expect((await fetch(via(img.urls.original.split('?')[0]!), { redirect: 'manual' })).status).toBe(403);
      }
      expect((await fetch(`http://127.0.0.1:${port}/cold/uploads/tmp/x.part`, { redirect: 'manual' })).status).toBe(404);
    } finally {
      await nginx.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a delete job for a copy in the s3 pool removes the object's keys, then the row with its report", async () => {
    // The handler on its own (image delete sends these jobs; surplus trimming never picks a primary).
    const dir = mkdtempSync(path.join(tmpdir(), 'fennec-s3del-'));
    try {
      const pools = new PoolSet(
        [],
        [
          {
            config: {
              id: 'cold2',
              tier: 'cold',
              type: 's3',
              public_base_url: 'http://127.0.0.1/cold2',
              s3: { endpoint: s3.url, region: 'us-east-1', bucket: s3.bucket, prefix: 'del', force_path_style: true },
              presign_seconds: 600,
              capacity_bytes: 2 ** 50,
            },
            credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
          },
        ],
      );
      const bucket = pools.s3('cold2')!;
      const uuid = '00000000-0000-4000-8000-000000000001';
      const rels = [`original/2026/12/01/${uuid}.jpg`, `variants/2026/12/01/${uuid}_small.webp`];
      for (const rel of rels) {
        const file = path.join(dir, path.basename(rel));
        const data = Buffer.from(`bytes of ${rel}`);
        writeFileSync(file, data);
        await bucket.put({ rel, file, size: data.length, sha256: sha(data), contentType: 'image/jpeg' });
        expect(await inBucket(c, s3.bucket, `del/${rel}`)).toBe(true);
      }
      const row = {
        uuid,
        pool_id: 'cold2',
        rel_path: rels[0]!,
        variants: JSON.stringify([{ rel_path: rels[1] }]),
      } as unknown as LocalObject;
      const forgotten: unknown[] = [];
      const deps = {
        nodeId: 's01',
        pools,
        logger: createLogger({ name: 'test', level: 'silent' }),
        getObject: (u: string) => (u === uuid ? row : undefined),
        forget: (ref: unknown, report: boolean) => void forgotten.push([ref, report]),
        changed: () => undefined,
      } as unknown as CopyJobDeps;
      const job = { data: { kind: 'delete', image_uuid: uuid, pool_id: 'cold2' } } as unknown as Job<DeleteJob>;
      expect(await deleteHandler(deps)(job)).toBe('deleted from the bucket');
      for (const rel of rels) expect(await inBucket(c, s3.bucket, `del/${rel}`)).toBe(false);
      expect(forgotten).toEqual([[row, true]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
