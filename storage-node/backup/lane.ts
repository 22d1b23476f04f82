import { type BackupJob, JOB_POLICY } from '../../shared/jobs.js';
import type { NodeConfig } from '../config.js';
import type { NodeJobsOptions } from '../jobs/queue.js';
import type { BackupRecords } from './records.js';

export const BACKUP_LANE = JOB_POLICY.backup.lane;

export function hasBackups(cfg: NodeConfig): boolean {
  return cfg.pools.some((p) => p.backup);
}

export function backupJob(uuid: string): BackupJob {
  return { kind: 'backup', image_uuid: uuid };
}

/**
 * The backup queue's settings, the same in the main process (adds, rebuilds) and the worker
 * (runs). Its own lane (`jobs-{node}-backup`, own worker) so uploads to S3 neither wait behind
 * image work nor hold it up; its worker runs as many jobs as all pools' `concurrency` together,
 * and each pool's own limit is kept inside the handler. The delay of every job is computed from
 * SQLite's `backup_due_at` at the moment it is added, so a restart or a Redis flush re-adds it
 * with the time that is left, never a fresh delay.
 */
export function backupLaneOptions(
  cfg: NodeConfig,
  records: BackupRecords,
): Pick<NodeJobsOptions, 'lane' | 'pending' | 'jobOptions' | 'concurrency' | 'attempts' | 'backoffMs' | 'maxBackoffMs' | 'resyncEveryMs'> {
  return {
    lane: BACKUP_LANE,
    pending: () => records.pending().map((p) => backupJob(p.uuid)),
    jobOptions: (data) => ({
      delay: Math.max(0, (records.get(data.image_uuid)?.backup_due_at ?? 0) - Date.now()),
      // A job that used every attempt goes; the row is still pending and the periodic resync adds it again.
      removeOnFail: true,
    }),
    concurrency: Math.max(
      1,
      cfg.pools.reduce((n, p) => n + (p.backup?.concurrency ?? 0), 0),
    ),
    attempts: cfg.backup.attempts,
    backoffMs: cfg.backup.backoffMs,
    maxBackoffMs: cfg.backup.maxBackoffMs,
    resyncEveryMs: cfg.backup.resyncMs,
  };
}
