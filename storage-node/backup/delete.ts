import { DeleteObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { type Job, UnrecoverableError } from 'bullmq';
import { BACKUP_DELETED, type BackupDeleted } from '../../shared/backup.js';
import type { BackupDeleteJob } from '../../shared/jobs.js';
import type { Logger } from '../../shared/logger.js';
import type { Db } from '../db/open.js';
import { outboxTable } from '../db/outbox.js';
import type { BackupDestination } from './job.js';
import { isNotFound } from './upload.js';

export interface BackupDeleteDeps {
  db: Db;
  nodeId: string;
  logger: Logger;
  destinationFor(poolId: string): BackupDestination | undefined;
  /** A `backup.deleted` row was committed: the main process delivers it. */
  wakeOutbox(): void;
}

/** Keys outside the pool's prefix are refused: this job only ever removes Fennec's own backups. */
function withinPrefix(prefix: string, key: string): boolean {
  const p = prefix.replace(/^\/+|\/+$/g, '');
  return !key.startsWith('/') && !key.split('/').includes('..') && (p === '' || key.startsWith(`${p}/`));
}

/**
 * `backup_delete`: a deleted image's backup leaves the bucket once its grace period is over (the
 * coordinator decides when, and names the keys: the original's and its variants'). Deleting a
 * key that is not there succeeds in S3, so a repeat is harmless; the original is checked gone
 * before `backup.deleted` is reported through the outbox.
 */
export function backupDeleteHandler(deps: BackupDeleteDeps) {
  const outbox = outboxTable(deps.db);
  return async function backupDeleteJob(job: Job<BackupDeleteJob>): Promise<string> {
    const { image_uuid, pool_id, backup } = job.data;
    if (backup.keys.length === 0) throw new UnrecoverableError('backup_delete job without keys');
    const dest = deps.destinationFor(pool_id);
    if (!dest) throw new UnrecoverableError(`pool ${pool_id} has no backup target on this node`);
    if (dest.target.bucket !== backup.bucket)
      throw new UnrecoverableError(`pool ${pool_id} backs up to ${dest.target.bucket}, not ${backup.bucket}`);
    const outside = backup.keys.find((k) => !withinPrefix(dest.target.prefix, k));
    if (outside) throw new UnrecoverableError(`key ${outside} is outside the pool's backup prefix`);
    for (const key of backup.keys) await dest.s3.send(new DeleteObjectCommand({ Bucket: backup.bucket, Key: key }));
    try {
      await dest.s3.send(new HeadObjectCommand({ Bucket: backup.bucket, Key: backup.keys[0]! }));
      throw new Error(`${backup.keys[0]} is still in ${backup.bucket} after its delete`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const now = Date.now();
    const payload: BackupDeleted = {
      image_uuid,
      node_id: deps.nodeId,
      pool_id,
      bucket: backup.bucket,
      keys: backup.keys,
      at: new Date(now).toISOString(),
    };
    outbox.add(BACKUP_DELETED, payload, now);
    deps.wakeOutbox();
    deps.logger.info({ image_uuid, bucket: backup.bucket, keys: backup.keys.length }, 'backup of a deleted image deleted');
    return 'deleted';
  };
}
