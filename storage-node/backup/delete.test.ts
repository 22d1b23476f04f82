import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { type Job, UnrecoverableError } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKUP_DELETED } from '../../shared/backup.js';
import type { BackupDeleteJob } from '../../shared/jobs.js';
import { createLogger } from '../../shared/logger.js';
import { startS3Server, type TestS3 } from '../../test/support/s3-server.js';
import type { BackupTarget } from '../config.js';
import { type Db, openDb } from '../db/open.js';
import { backupDeleteHandler } from './delete.js';
import type { BackupDestination } from './job.js';
import { createS3Client } from './s3.js';

const UUID = '0b9f1f4e-6a43-4a8e-9a64-2d6c1a6e7c11';

/** The backup_delete job against a real s3rver: deletes only what it was sent for, reports once done. */
describe('backup_delete job', () => {
  let s3: TestS3;
  let dir: string;
  let db: Db;
  let dest: BackupDestination;
  beforeAll(async () => {
    s3 = await startS3Server();
    dir = mkdtempSync(path.join(tmpdir(), 'fennec-backup-delete-'));
    db = openDb(path.join(dir, 'node.db'));
    const target: BackupTarget = {
      endpoint: s3.url,
      region: 'us-east-1',
      bucket: s3.bucket,
      prefix: 'fennec/p1',
      force_path_style: true,
      delay_seconds: 0,
      include_variants: true,
      concurrency: 1,
    };
    dest = { target, s3: createS3Client(target, { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }) };
  });
  afterAll(async () => {
    dest?.s3.destroy();
    db?.close();
    await s3?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = (data: Partial<BackupDeleteJob>) => {
    const handler = backupDeleteHandler({
      db,
      nodeId: 's01',
      logger: createLogger({ name: 't', level: 'silent' }),
      destinationFor: (id) => (id === 'p1' ? dest : undefined),
      wakeOutbox: () => undefined,
    });
    return handler({ data: { kind: 'backup_delete', image_uuid: UUID, pool_id: 'p1', ...data } } as Job<BackupDeleteJob>);
  };
  const exists = async (key: string) =>
    dest.s3.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key })).then(
      () => true,
      () => false,
    );
  const reports = () => db.prepare('SELECT payload FROM outbox WHERE kind = ?').all(BACKUP_DELETED) as { payload: string }[];

  it('refuses, for good, what is not its own: no keys, another bucket, a key outside the prefix, a pool without a target', async () => {
    await dest.s3.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'other/keep.jpg', Body: 'x' }));
    const cases: Partial<BackupDeleteJob>[] = [
      { backup: { bucket: s3.bucket, keys: [] } },
      { backup: { bucket: 'elsewhere', keys: ['fennec/p1/2026/01/01/u.jpg'] } },
      { backup: { bucket: s3.bucket, keys: ['other/keep.jpg'] } },
      { backup: { bucket: s3.bucket, keys: ['fennec/p1/../../other/keep.jpg'] } },
      { pool_id: 'p2', backup: { bucket: s3.bucket, keys: ['fennec/p1/x.jpg'] } },
    ];
    for (const c of cases) await expect(run(c)).rejects.toBeInstanceOf(UnrecoverableError);
    expect(await exists('other/keep.jpg')).toBe(true);
    expect(reports()).toEqual([]);
  });

  it('deletes the original and its variants, then reports backup.deleted; a repeat is harmless', async () => {
    const keys = ['fennec/p1/2026/01/01/u.jpg', 'fennec/p1/2026/01/01/u_small.webp', 'fennec/p1/2026/01/01/u.avif'];
    for (const k of keys.slice(0, 2)) await dest.s3.send(new PutObjectCommand({ Bucket: s3.bucket, Key: k, Body: 'x' }));
    expect(await run({ backup: { bucket: s3.bucket, keys } })).toBe('deleted');
    for (const k of keys) expect(await exists(k)).toBe(false);
    expect(await run({ backup: { bucket: s3.bucket, keys } })).toBe('deleted');
    const sent = reports().map((r) => JSON.parse(r.payload));
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatchObject({ image_uuid: UUID, node_id: 's01', pool_id: 'p1', bucket: s3.bucket, keys });
  });
});
