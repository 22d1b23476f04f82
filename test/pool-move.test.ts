import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePhoto } from './support/photos.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const IMAGES = 200;

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

/**
 * A pool of 200 images moves to another node; the source node is killed (-9) half-way. After it
 * restarts the move completes: every object at the target with the right SHA-256 and its
 * variants, the index pointing there, nothing left at the source, nothing lost.
 */
describe('pool move: 200 images, kill -9 of the source half-way', () => {
  let t: TestCluster;
  const sums = new Map<string, string>();
  const rels = new Map<string, string>();

  beforeAll(async () => {
    t = await startTestCluster({
      nodes: 2,
      nodeEnv: {
        FENNEC_HEARTBEAT_INTERVAL_MS: '300',
        FENNEC_JOB_BACKOFF_MS: '200',
        FENNEC_JOB_LOCK_MS: '1500',
        FENNEC_JOB_MARKER_CHECK_MS: '300',
        FENNEC_LOG_LEVEL: 'info',
      },
      coordinatorEnv: {
        FENNEC_HEARTBEAT_MAX_AGE_MS: '1500',
        FENNEC_REPAIR_INTERVAL_MS: '200',
        FENNEC_JOB_RETRY_MS: '2000',
        FENNEC_MOVE_BATCH: '10',
        FENNEC_LOG_LEVEL: 'info',
      },
    });
    await t.cluster.admin('PATCH', '/api/v1/admin/pools/s02-hot', { accepting: false });
    const photos = await Promise.all(Array.from({ length: 8 }, (_, i) => makePhoto({ width: 96, height: 64, seed: i + 1 })));
    for (let i = 0; i < IMAGES; i += 10)
      await Promise.all(
        Array.from({ length: 10 }, async (_, j) => {
          // Same picture, other bytes: a JPEG comment makes each file unique (no duplicate detection).
          const photo = Buffer.concat([
            photos[(i + j) % photos.length]!.subarray(0, 2),
            jpegComment(`n${i + j}`),
            photos[(i + j) % photos.length]!.subarray(2),
          ]);
          const up = await t.store('mover', photo);
          expect(up.node_id).toBe('s01');
          sums.set(up.image_uuid, sha(photo));
          rels.set(up.image_uuid, up.urls.original.split('/uploads/')[1]!);
        }),
      );
    await eventually(
      async () => {
        const statuses = await Promise.all([...sums.keys()].map(async (u) => (await t.appGet(`/api/v1/images/${u}`)).body.status));
        return statuses.every((s) => s === 'ready');
      },
      120_000,
      'every image ready',
    );
  }, 240_000);
  afterAll(async () => {
    await t?.stop();
  });

  const admin = (method: string, route: string, body?: unknown) => t.cluster.admin(method, route, body) as Promise<any>;

  it('a dry run plans every object and changes nothing', async () => {
    const plan = await admin('POST', '/api/v1/admin/pools/s01-hot/move', { target_pool_id: 's02-hot', dry_run: true });
    expect(plan).toMatchObject({ dry_run: true, objects: IMAGES });
    const pools = (await admin('GET', '/api/v1/admin/pools')).pools as { pool_id: string; accepting: boolean }[];
    expect(pools.find((p) => p.pool_id === 's01-hot')!.accepting).toBe(true);
  });

  it('moves every object, surviving a kill -9 of the source node half-way', async () => {
    const move = await admin('POST', '/api/v1/admin/pools/s01-hot/move', { target_pool_id: 's02-hot' });
    const id = move.move_id as string;
    await eventually(async () => (await admin('GET', `/api/v1/admin/moves/${id}`)).counts.done >= IMAGES / 4, 60_000, 'a quarter moved');
    await t.cluster.nodes[0]!.kill();
    const during = await admin('GET', `/api/v1/admin/moves/${id}`);
    expect(during.counts.done).toBeLessThan(IMAGES);
    await t.cluster.startNode(0);
    const done = await eventually(
      async () => {
        const m = await admin('GET', `/api/v1/admin/moves/${id}`);
        return m.state === 'done' || m.state === 'failed' ? m : undefined;
      },
      120_000,
      'the move to finish',
    );
    expect(done).toMatchObject({ state: 'done', counts: { done: IMAGES, failed: 0, missing: 0 } });

    const source = t.cluster.info.nodes[0]!.pools[0]!.base_path;
    const target = t.cluster.info.nodes[1]!.pools[0]!.base_path;
    for (const [uuid, sum] of sums) {
      const img = (await t.appGet(`/api/v1/images/${uuid}`)).body;
      expect([img.pool_id, img.node_id, img.status]).toEqual(['s02-hot', 's02', 'ready']);
      expect(sha(readFileSync(path.join(target, rels.get(uuid)!)))).toBe(sum);
      for (const url of Object.values(img.urls.variants as Record<string, string>)) {
        expect(url.startsWith(t.cluster.info.nodes[1]!.url)).toBe(true);
        expect(existsSync(path.join(target, url.split('/uploads/')[1]!))).toBe(true);
      }
    }
    // Nothing left at the source: no original, no variant, no temp file.
    expect(filesUnder(path.join(source, 'original'))).toEqual([]);
    expect(filesUnder(path.join(source, 'variants'))).toEqual([]);
    expect(filesUnder(path.join(source, 'tmp')).filter((f) => !/\.probe-/.test(f))).toEqual([]);
    expect(filesUnder(path.join(target, 'tmp')).filter((f) => !/\.probe-/.test(f))).toEqual([]);
    // The source pool takes uploads again after a plain move.
    const pools = (await admin('GET', '/api/v1/admin/pools')).pools as { pool_id: string; accepting: boolean }[];
    expect(pools.find((p) => p.pool_id === 's01-hot')!.accepting).toBe(true);
  }, 240_000);
});

/** A JPEG COM segment: lets one test photo become many distinct files. */
function jpegComment(text: string): Buffer {
  const body = Buffer.from(text);
  const head = Buffer.from([0xff, 0xfe, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
}
