import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupKey } from '../shared/backup.js';
import { putOnce } from '../storage-node/backup/upload.js';
import { makePhoto } from './support/photos.js';
import { scrape, valueOf } from './support/prom.js';
import { backupTargetFor, s3ClientFor, s3CredentialsEnv, startS3Server, type TestS3 } from './support/s3-server.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const DELAY_S = 4;

const client = (s3: TestS3): S3Client => s3ClientFor(s3);

async function getBytes(c: S3Client, bucket: string, key: string): Promise<Buffer | undefined> {
  try {
    const res = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await res.Body!.transformToByteArray());
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

describe('backup upload against a real S3 server (s3rver)', () => {
  let s3: TestS3;
  let c: S3Client;
  let dir: string;
  beforeAll(async () => {
    s3 = await startS3Server();
    c = client(s3);
    dir = mkdtempSync(path.join(tmpdir(), 'fennec-backup-'));
  });
  afterAll(async () => {
    c?.destroy();
    await s3?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('puts a small file once with its sha256, and a multipart one byte-exact', async () => {
    // What went over the wire: every PUT carries S3's own SHA-256 checksum header.
    const sent: { method: string; query: Record<string, unknown>; headers: Record<string, string> }[] = [];
    c.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { method: string; query: Record<string, unknown>; headers: Record<string, string> };
        sent.push({ method: req.method, query: req.query, headers: req.headers });
        return next(args);
      },
      { step: 'finalizeRequest', name: 'recordHeaders', priority: 'low' },
    );
    for (const [name, size] of [
      ['small', 300_000],
      ['large', 19 * 1024 * 1024 + 17],
    ] as const) {
      const data = randomBytes(size);
      const file = path.join(dir, name);
      writeFileSync(file, data);
      const f = { bucket: s3.bucket, key: `t/${name}.bin`, file, size, sha256: sha(data) };
      expect(await putOnce(c, f)).toBe('uploaded');
      expect(await putOnce(c, f)).toBe('present');
      const head = await c.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: f.key }));
      expect(head.Metadata?.sha256).toBe(sha(data));
      expect(sha((await getBytes(c, s3.bucket, f.key))!)).toBe(sha(data));
      // A different file under the same key is not "present": it is replaced.
      expect(await putOnce(c, { ...f, sha256: sha(Buffer.from('other')) })).toBe('uploaded');
    }
    const events = s3.created().filter((e) => e.key.startsWith('t/'));
    expect(events.filter((e) => e.key === 't/small.bin')).toHaveLength(2);
    const puts = sent.filter((r) => r.method === 'PUT');
    expect(puts.length).toBeGreaterThanOrEqual(1 + 3 + 1 + 3); // small ×2, large in 3 parts ×2
    for (const r of puts) {
      expect(r.headers['x-amz-checksum-sha256']).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(r.headers['content-encoding'] ?? '').not.toMatch(/aws-chunked/);
    }
    const creates = sent.filter((r) => r.method === 'POST' && 'uploads' in r.query);
    expect(creates.map((r) => r.headers['x-amz-checksum-algorithm'])).toEqual(['SHA256', 'SHA256']);
    // s3rver names a CompleteMultipartUpload `ObjectCreated:Post`; a single PUT is `ObjectCreated:Put`.
    expect(events.filter((e) => e.key === 't/small.bin').map((e) => e.event)).toEqual(['ObjectCreated:Put', 'ObjectCreated:Put']);
    expect(events.filter((e) => e.key === 't/large.bin').map((e) => e.event)).toEqual(['ObjectCreated:Post', 'ObjectCreated:Post']);
  });
});

interface BackupRow {
  uuid: string;
  rel_path: string;
  backup_state: string;
  backup_due_at: number | null;
  backup_key: string | null;
  backed_up_at: number | null;
  backup_attempts: number;
  backup_error: string | null;
}

/**
 * Two real nodes backing up to s3rver: s01 at once, s02 after a 3 s delay. Uploads go to one
 * node at a time (the other stops accepting).
 */
describe('backup: originals to S3 after their variants', () => {
  let s3: TestS3;
  let c: S3Client;
  let t: TestCluster;
  const prefix = (i: number) => `fennec/s0${i + 1}`;

  beforeAll(async () => {
    s3 = await startS3Server();
    c = client(s3);
    t = await startTestCluster({
      nodes: 2,
      nodeEnv: {
        ...s3CredentialsEnv(s3),
        FENNEC_BACKUP_BACKOFF_MS: '200',
        FENNEC_BACKUP_MAX_BACKOFF_MS: '1000',
        FENNEC_BACKUP_RESYNC_MS: '1000',
        FENNEC_JOB_MARKER_CHECK_MS: '500',
        FENNEC_LOG_LEVEL: 'debug',
      },
      poolExtra: (i) => ({
        backup: backupTargetFor(s3, prefix(i), { delay_seconds: i === 0 ? 0 : DELAY_S, include_variants: i === 1 }),
      }),
    });
  });
  afterAll(async () => {
    await t?.stop();
    c?.destroy();
    await s3?.close();
  });

  const accepting = async (nodeIndex: number) => {
    for (const [i, n] of t.cluster.info.nodes.entries())
      await t.cluster.admin('PATCH', `/api/v1/admin/pools/${n.pools[0]!.pool_id}`, { accepting: i === nodeIndex });
  };
  const rows = (nodeIndex: number, uuids: string[]): BackupRow[] => {
    const db = new Database(path.join(t.dataDir, 'nodes', `s0${nodeIndex + 1}`, 'state', 'node.db'), { readonly: true });
    try {
      const get = db.prepare(
        'SELECT uuid, rel_path, backup_state, backup_due_at, backup_key, backed_up_at, backup_attempts, backup_error FROM objects WHERE uuid = ?',
      );
      return uuids.map((u) => get.get(u) as BackupRow);
    } finally {
      db.close();
    }
  };
  /** backup.stored rows still in the outbox plus those the node logged as delivered. */
  const storedReports = (nodeIndex: number): string[] => {
    const nodeId = `s0${nodeIndex + 1}`;
    const db = new Database(path.join(t.dataDir, 'nodes', nodeId, 'state', 'node.db'), { readonly: true });
    try {
      return (db.prepare("SELECT payload FROM outbox WHERE kind = 'backup.stored'").all() as { payload: string }[]).map(
        (r) => (JSON.parse(r.payload) as { image_uuid: string }).image_uuid,
      );
    } finally {
      db.close();
    }
  };
  const deliveredStored = (nodeIndex: number): number =>
    readFileSync(path.join(t.dataDir, 'logs', `s0${nodeIndex + 1}.log`), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"kind":"backup.stored"') && l.includes('outbox row delivered')).length;

  const upload = async (seeds: number[]) => {
    const out: { uuid: string; sum: string; key: string }[] = [];
    for (const seed of seeds) {
      const photo = await makePhoto({ width: 640, height: 480, seed });
      const up = await t.store('alice', photo);
      out.push({ uuid: up.image_uuid, sum: sha(photo), key: '' });
    }
    return out;
  };
  const withKeys = (nodeIndex: number, ups: { uuid: string; sum: string; key: string }[]) => {
    const rs = rows(
      nodeIndex,
      ups.map((u) => u.uuid),
    );
    return ups.map((u, i) => ({ ...u, key: backupKey(prefix(nodeIndex), rs[i]!.rel_path) }));
  };

  it('delay 0: every original lands in the bucket byte-exact, recorded done with its report', async () => {
    await accepting(0);
    const ups = withKeys(0, await upload([1, 2, 3]));
    await eventually(
      async () =>
        rows(
          0,
          ups.map((u) => u.uuid),
        ).every((r) => r.backup_state === 'done'),
      30_000,
      'backups done',
    );
    for (const [i, r] of rows(
      0,
      ups.map((u) => u.uuid),
    ).entries()) {
      expect(r.backup_key).toBe(ups[i]!.key);
      expect(r.backed_up_at).toBeGreaterThan(0);
      expect(r.backup_error).toBeNull();
      expect(sha((await getBytes(c, s3.bucket, ups[i]!.key))!)).toBe(ups[i]!.sum);
    }
    const reported = storedReports(0);
    expect(reported.filter((u) => ups.some((x) => x.uuid === u)).length + deliveredStored(0)).toBeGreaterThanOrEqual(3);
    for (const u of ups) expect(s3.created().filter((e) => e.key === u.key)).toHaveLength(1);
    // Variants are not backed up unless asked (s02 asks).
    expect(s3.created().some((e) => e.key.startsWith(prefix(0)) && e.key.includes('_small'))).toBe(false);
    const { samples } = await scrape(t.cluster.info.nodes[0]!.url);
    expect(valueOf(samples, 'fennec_node_backups_pending')).toBe(0);
    expect(valueOf(samples, 'fennec_node_jobs_finished_total', { kind: 'backup', outcome: 'completed' })).toBeGreaterThanOrEqual(3);
  });

  it('delay: nothing in S3 before it is due, in S3 after, through a node restart and a Redis flush in between', async () => {
    await accepting(1);
    const ups = withKeys(1, await upload([11, 12]));
    const pending = await eventually(
      async () => {
        const rs = rows(
          1,
          ups.map((u) => u.uuid),
        );
        return rs.every((r) => r.backup_state === 'pending') ? rs : undefined;
      },
      20_000,
      'backups scheduled',
    );
    for (const r of pending) expect(r.backup_due_at! - Date.now()).toBeGreaterThan(500);
    expect(valueOf((await scrape(t.cluster.info.nodes[1]!.url)).samples, 'fennec_node_backups_pending')).toBe(2);
    await t.cluster.nodes[1]!.stop();
    // Stopped before anything was due, so whatever is uploaded is uploaded by the restarted node.
    expect(Date.now()).toBeLessThan(Math.min(...pending.map((r) => r.backup_due_at!)));
    for (const u of ups) expect(await getBytes(c, s3.bucket, u.key)).toBeUndefined();
    // Redis loses the delayed jobs too: only the node's SQLite knows them now.
    const redis = new Redis(t.cluster.info.redis_url);
    await redis.flushall();
    redis.disconnect();
    await t.cluster.startNode(1);
    await eventually(
      async () =>
        rows(
          1,
          ups.map((u) => u.uuid),
        ).every((r) => r.backup_state === 'done'),
      30_000,
      'delayed backups done',
    );
    for (const [i, u] of ups.entries()) {
      expect(sha((await getBytes(c, s3.bucket, u.key))!)).toBe(u.sum);
      const created = s3.created().filter((e) => e.key === u.key);
      expect(created).toHaveLength(1);
      expect(created[0]!.at).toBeGreaterThanOrEqual(pending[i]!.backup_due_at!);
      // include_variants: the variant files under the same day path, byte-exact.
      const small = u.key.replace(/\.jpg$/, '_small.webp');
      const local = readFileSync(path.join(t.cluster.info.nodes[1]!.pools[0]!.base_path, 'variants', ...small.split('/').slice(2)));
      expect(sha((await getBytes(c, s3.bucket, small))!)).toBe(sha(local));
    }
  });

  it('S3 down during backups, then back: every object ends backed up exactly once', async () => {
    await accepting(0);
    await s3.stop();
    const ups = withKeys(0, await upload([21, 22, 23]));
    await eventually(
      async () =>
        rows(
          0,
          ups.map((u) => u.uuid),
        ).every((r) => r.backup_state === 'pending' && r.backup_attempts >= 2 && r.backup_error),
      30_000,
      'failed attempts recorded',
    );
    await s3.start();
    await eventually(
      async () =>
        rows(
          0,
          ups.map((u) => u.uuid),
        ).every((r) => r.backup_state === 'done'),
      30_000,
      'backups done after S3 is back',
    );
    for (const u of ups) {
      expect(sha((await getBytes(c, s3.bucket, u.key))!)).toBe(u.sum);
      expect(s3.created().filter((e) => e.key === u.key)).toHaveLength(1);
    }
    // Earlier objects were not sent again.
    const keys = s3
      .created()
      .map((e) => e.key)
      .filter((k) => k.startsWith('fennec/'));
    expect(new Set(keys).size).toBe(keys.length);
  });
});
