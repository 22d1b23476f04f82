import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isAppError } from '../../shared/errors.js';
import type { RestoreItem } from '../../shared/restore.js';
import { DiskStore } from '../pool-store/disk-store.js';

/** S3 has other bytes than the ledger records, or none: nothing is written, the run goes on. */
export class S3ObjectError extends Error {
  constructor(
    readonly reason: 'corrupt_in_s3' | 'missing_in_s3',
    message: string,
  ) {
    super(message);
    this.name = 'S3ObjectError';
  }
}

const CORRUPT = new Set(['size_mismatch', 'checksum_mismatch']);

/**
 * GetObject streamed into the pool's disk store as `item.rel_path` (never buffered), checked
 * against the recorded size and SHA-256 while it flows, then made durable over whatever is there.
 */
export async function fetchOriginal(o: { s3: S3Client; poolPath: string; item: RestoreItem; signal?: AbortSignal }): Promise<void> {
  const { item } = o;
  let body: Readable;
  try {
    const res = await o.s3.send(new GetObjectCommand({ Bucket: item.bucket, Key: item.key }), { abortSignal: o.signal });
    body = res.Body as Readable;
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey')
      throw new S3ObjectError('missing_in_s3', `s3://${item.bucket}/${item.key} does not exist`);
    throw err;
  }
  const disk = new DiskStore({ root: o.poolPath });
  try {
    await disk.write(body, item.rel_path, {
      expectSize: item.size,
      expectSha256: item.sha256,
      signal: o.signal,
      tmpName: `restore-${randomUUID()}`,
    });
  } catch (err) {
    body.destroy();
    if (isAppError(err) && CORRUPT.has(err.code))
      throw new S3ObjectError(
        'corrupt_in_s3',
        `s3://${item.bucket}/${item.key}: ${err.message}; the ledger records ${item.size} bytes, sha256 ${item.sha256}`,
      );
    throw err;
  }
}
