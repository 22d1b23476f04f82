import { S3Client } from '@aws-sdk/client-s3';
import type { BackupTarget, S3Credentials } from '../config.js';

/**
 * One S3 client per pool with a backup target (the worker process builds them at start).
 * Timeouts are short on purpose: an S3 that hangs fails the attempt, and the job's own
 * backoff (not the SDK's) decides when to try again.
 */
export function createS3Client(target: BackupTarget, credentials: S3Credentials): S3Client {
  return new S3Client({
    region: target.region,
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    forcePathStyle: target.force_path_style,
    credentials,
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 5000, requestTimeout: 60_000 },
  });
}
