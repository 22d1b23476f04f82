import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Job } from 'bullmq';
import type { VariantFileInfo } from '../../shared/api.js';
import { backupKey } from '../../shared/backup.js';
import type { BackupJob } from '../../shared/jobs.js';
import type { Logger } from '../../shared/logger.js';
import type { BackupTarget } from '../config.js';
import type { PoolSet } from '../pools.js';
import { hashFile } from '../replication/hash-file.js';
import type { BackupRecords, BackupRow } from './records.js';
import { putOnce } from './upload.js';

/** A pool's bucket and the client that reaches it. */
export interface BackupDestination {
  target: BackupTarget;
  s3: S3Client;
}

export interface BackupJobDeps {
  records: BackupRecords;
  pools: PoolSet;
  logger: Logger;
  destinationFor(poolId: string): BackupDestination | undefined;
  /** A `backup.stored` row was committed: the main process delivers it. */
  wakeOutbox(): void;
}

/** At most `n` tasks at once per key (a pool's `concurrency`), the rest wait in order. */
export class KeyedLimit {
  readonly #running = new Map<string, number>();
  readonly #waiting = new Map<string, (() => void)[]>();

  async run<T>(key: string, n: number, task: () => Promise<T>): Promise<T> {
    if ((this.#running.get(key) ?? 0) >= n) await new Promise<void>((r) => this.#queue(key).push(r));
    else this.#running.set(key, (this.#running.get(key) ?? 0) + 1);
    try {
      return await task();
    } finally {
      const next = this.#queue(key).shift();
      // The slot passes straight to the next waiter; otherwise it is freed.
      if (next) next();
      else this.#running.set(key, (this.#running.get(key) ?? 1) - 1);
    }
  }

  #queue(key: string): (() => void)[] {
    let q = this.#waiting.get(key);
    if (!q) this.#waiting.set(key, (q = []));
    return q;
  }
}

/** `{prefix}/YYYY/MM/DD/{file}` for a variant: the same day path as its original's key. */
export function variantBackupKey(prefix: string, variantRelPath: string): string {
  const m = /^(private\/)?variants\/(\d{4}\/\d{2}\/\d{2}\/[^/]+)$/.exec(variantRelPath);
  if (!m) throw new Error(`not a variant path: ${variantRelPath}`);
  return backupKey(prefix, `${m[1] ?? ''}original/${m[2]}`);
}

/**
 * The `backup` job: the original (and, with `include_variants`, the variant files first) into
 * the pool's bucket, then `done` and its `backup.stored` report in one transaction. Idempotent:
 * a file already in the bucket with the same size and SHA-256 is not sent again. Any failure
 * (S3 down, slow, refusing) is retryable and leaves the backup pending with its error.
 */
export function backupHandler(deps: BackupJobDeps) {
  const limit = new KeyedLimit();
  return async function backupJob(job: Job<BackupJob>): Promise<string> {
    const row = deps.records.get(job.data.image_uuid);
    if (!row || row.backup_state !== 'pending') return 'nothing to do';
    // Moved into the S3 cold tier before its backup ran: no local file, and the bucket is its copy.
    if (deps.pools.s3(row.pool_id)) {
      deps.records.markNone(row.uuid, `in s3 pool ${row.pool_id}: nothing local to back up`);
      return 'in an s3 pool';
    }
    const dest = deps.destinationFor(row.pool_id);
    const pool = deps.pools.get(row.pool_id);
    if (!dest || !pool) {
      deps.records.markNone(row.uuid, `pool ${row.pool_id} has no backup target on this node`);
      return 'no backup target';
    }
    return limit.run(row.pool_id, dest.target.concurrency, async () => {
      try {
        return await backupObject(deps, row, dest, pool.config.path);
      } catch (err) {
        const reason = (err as Error).message || String(err);
        deps.records.markFailed(row.uuid, reason);
        deps.logger.warn({ image_uuid: row.uuid, attempts: job.attemptsMade + 1, err: reason }, 'backup attempt failed');
        throw err;
      }
    });
  };
}

async function backupObject(deps: BackupJobDeps, row: BackupRow, dest: BackupDestination, poolPath: string): Promise<string> {
  const { target, s3 } = dest;
  const abs = (rel: string) => path.join(poolPath, ...rel.split('/'));
  if (target.include_variants) {
    for (const v of JSON.parse(row.variants) as VariantFileInfo[]) {
      let hashed: { size: number; sha256: string };
      try {
        hashed = await hashFile(abs(v.rel_path));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        continue; // regenerable; the original is what counts
      }
      await putOnce(s3, { bucket: target.bucket, key: variantBackupKey(target.prefix, v.rel_path), file: abs(v.rel_path), ...hashed });
    }
  }
  const key = backupKey(target.prefix, row.rel_path);
  const result = await putOnce(s3, {
    bucket: target.bucket,
    key,
    file: abs(row.rel_path),
    size: row.size,
    sha256: row.sha256,
    contentType: row.mime,
  });
  const now = Date.now();
  if (deps.records.markDone(row, { bucket: target.bucket, key, at: new Date(now).toISOString() }, now)) deps.wakeOutbox();
  deps.logger.info({ image_uuid: row.uuid, bucket: target.bucket, key, result }, 'original backed up');
  return result;
}
