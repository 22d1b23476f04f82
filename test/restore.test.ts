import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupKey } from '../shared/backup.js';
import { makePhoto } from './support/photos.js';
import { backupTargetFor, s3ClientFor, s3CredentialsEnv, startS3Server, type TestS3 } from './support/s3-server.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

const execFileAsync = promisify(execFile);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const POOL = 's01-hot';

/**
 * A lost disk and a lost node database: the pool's original/ and variants/ and the node's SQLite
 * are gone; `fennec-node restore` brings the originals back from S3 while the node runs, and the
 * running node's worker makes the variants again.
 */
describe('fennec-node restore: a pool rebuilt from S3', () => {
  let s3: TestS3;
  let t: TestCluster;

  beforeAll(async () => {
    s3 = await startS3Server();
    t = await startTestCluster({
      nodes: 1,
      nodeEnv: s3CredentialsEnv(s3),
      poolExtra: () => ({ backup: backupTargetFor(s3, 'fennec/s01') }),
    });
  });
  afterAll(async () => {
    await t?.stop();
    await s3?.close();
  });

  const nodeDir = () => path.join(t.dataDir, 'nodes', 's01');
  const poolDir = () => t.cluster.info.nodes[0]!.pools[0]!.base_path;
  const restore = async (args: string[]) => {
    const env = { ...process.env, ...t.cluster.nodes[0]!.spec.env, FENNEC_LOG_LEVEL: 'warn' };
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, ['dist/storage-node/main.js', 'restore', ...args], {
        env,
        timeout: 60_000,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const nodeRows = () => {
    const db = new Database(path.join(nodeDir(), 'state', 'node.db'), { readonly: true });
    try {
      return db.prepare('SELECT uuid, status, rel_path, variants FROM objects').all() as {
        uuid: string;
        status: string;
        rel_path: string;
        variants: string;
      }[];
    } finally {
      db.close();
    }
  };

  it('refuses bad arguments and an unknown pool with exit 2', async () => {
    for (const args of [[], ['--pool'], ['--pool', POOL, '--since', 'someday'], ['--pool', POOL, '--bogus']]) {
      const r = await restore(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/fennec-node: /);
    }
    const unknown = await restore(['--pool', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('pool nope is not a pool of node s01');
  });

  it('restores every backed-up original byte-exact beside the running node; variants are made again', async () => {
    const photos: { uuid: string; sum: string; bytes: Uint8Array }[] = [];
    for (const seed of [1, 2, 3]) {
      const bytes = await makePhoto({ width: 640, height: 480, seed });
      const up = await t.store('alice', bytes);
      photos.push({ uuid: up.image_uuid, sum: sha(bytes), bytes });
    }
    await eventually(
      async () => {
        for (const p of photos) if ((await t.appGet(`/api/v1/images/${p.uuid}`)).body?.backup?.state !== 'stored') return false;
        return true;
      },
      30_000,
      'backups stored',
    );
    const before = new Map(nodeRows().map((r) => [r.uuid, r.rel_path]));

    // The disk and the node database are lost; the node comes back empty.
    await t.cluster.nodes[0]!.stop();
    for (const sub of ['original', 'variants']) rmSync(path.join(poolDir(), sub), { recursive: true, force: true });
    for (const f of ['node.db', 'node.db-wal', 'node.db-shm']) rmSync(path.join(nodeDir(), 'state', f), { force: true });
    await t.cluster.startNode(0);
    expect(nodeRows()).toEqual([]);

    const r = await restore(['--pool', POOL]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(summary).toEqual({
      pool_id: POOL,
      listed: 3,
      restored: 3,
      present: 0,
      failed: [],
      bytes: photos.reduce((n, p) => n + p.bytes.byteLength, 0),
    });
    for (const p of photos) expect(sha(readFileSync(path.join(poolDir(), ...before.get(p.uuid)!.split('/'))))).toBe(p.sum);

    // The running node's worker regenerates the variants from the restored originals.
    await eventually(
      async () => {
        const rows = nodeRows();
        return rows.length === 3 && rows.every((row) => row.status === 'ready');
      },
      60_000,
      'restored images ready on the node',
    );
    const variants = t.poolFiles(0, 'variants');
    for (const p of photos) {
      expect(variants.filter((f) => f.includes(p.uuid)).length).toBeGreaterThan(0);
      const img = await t.appGet(`/api/v1/images/${p.uuid}`);
      expect(img.body.status).toBe('ready');
    }

    // The copy.stored reports reach the coordinator (the running node's outbox delivers them).
    await eventually(
      async () => {
        const db = new Database(path.join(nodeDir(), 'state', 'node.db'), { readonly: true });
        try {
          return db.prepare("SELECT count(*) FROM outbox WHERE kind = 'copy.stored'").pluck().get() === 0;
        } finally {
          db.close();
        }
      },
      15_000,
      'copy.stored delivered',
    );

    // A second run finds everything in place.
    const again = await restore(['--pool', POOL, '--since', '2020-01-01']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout.trim())).toMatchObject({ listed: 3, restored: 0, present: 3, failed: [], bytes: 0 });

    // S3 holds other bytes than the ledger says: nothing is written, the others go on, exit 1.
    const bad = photos[0]!;
    const rel = before.get(bad.uuid)!;
    const c = s3ClientFor(s3);
    await c.send(new PutObjectCommand({ Bucket: s3.bucket, Key: backupKey('fennec/s01', rel), Body: Buffer.from('not the photo') }));
    c.destroy();
    rmSync(path.join(poolDir(), ...rel.split('/')));
    const corrupt = await restore(['--pool', POOL]);
    expect(corrupt.code).toBe(1);
    expect(JSON.parse(corrupt.stdout.trim())).toEqual({
      pool_id: POOL,
      listed: 3,
      restored: 0,
      present: 2,
      failed: [{ image_uuid: bad.uuid, reason: 'corrupt_in_s3' }],
      bytes: 0,
    });
    expect(readdirSync(path.join(poolDir(), 'tmp')).filter((f) => f.startsWith('restore-'))).toEqual([]);
  });

  it('the admin call queues the same restore on the node: lost originals come back, a bad S3 copy writes nothing', async () => {
    const admin = (route: string, body: unknown) =>
      fetch(`${t.cluster.info.coordinator_url}${route}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.cluster.info.admin_key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await admin('/api/v1/admin/pools/nope/restore', {})).status).toBe(404);
    expect((await admin(`/api/v1/admin/pools/${POOL}/restore`, { since: 'someday' })).status).toBe(400);
    // Left by the test above: two originals in place, one missing whose S3 object has other bytes.
    const files = nodeRows().map((r) => ({ uuid: r.uuid, file: path.join(poolDir(), ...r.rel_path.split('/')) }));
    const good = files.filter((f) => existsSync(f.file)).map((f) => ({ ...f, sum: sha(readFileSync(f.file)) }));
    expect(good).toHaveLength(2);
    for (const f of good) rmSync(f.file);

    const res = await admin(`/api/v1/admin/pools/${POOL}/restore`, { since: '2020-01-01T00:00:00Z' });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ pool_id: POOL, node_id: 's01', queued: 3, not_queued: 0 });
    await eventually(
      async () => good.every((f) => existsSync(f.file) && sha(readFileSync(f.file)) === f.sum),
      30_000,
      'originals restored by the node',
    );
    const bad = files.find((f) => !good.some((g) => g.uuid === f.uuid))!;
    expect(existsSync(bad.file)).toBe(false);
    expect(readdirSync(path.join(poolDir(), 'tmp')).filter((f) => f.startsWith('restore-'))).toEqual([]);
  });
});
