import type { NodeConfig } from '../config.js';
import type { BackupDestination } from './job.js';
import { createS3Client } from './s3.js';

/**
 * One S3 client per pool with a backup target and credentials, built once per worker process:
 * the backup lane writes with them, the main queue's backup_delete jobs delete with them.
 */
export function backupDestinations(cfg: NodeConfig): Map<string, BackupDestination> {
  const destinations = new Map<string, BackupDestination>();
  for (const p of cfg.pools) {
    const creds = cfg.backup.credentials[p.id];
    if (p.backup && creds) destinations.set(p.id, { target: p.backup, s3: createS3Client(p.backup, creds) });
  }
  return destinations;
}
