import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isAppError } from '../../shared/errors.js';
import { TMP_DIR } from '../../shared/paths.js';
import type { RestoreItem } from '../../shared/restore.js';
import { MeterStream } from '../upload/meter.js';
import { commitFile, syncDir } from '../variants/durable.js';

/** S3 has other bytes than the ledger records, or none: nothing is written, the run goes on. */
export class S3ObjectError extends Error {
  constructor(readonly reason: 'corrupt_in_s3' | 'missing_in_s3', message: string) {
    super(message);
    this.name = 'S3ObjectError';
  }
}

/**
 * GetObject streamed through a counting, hashing meter into `{pool}/tmp/restore-….part`
 * (never buffered), checked against the recorded size and SHA-256, then fsynced and renamed
 * over `finalPath`, and the directories up to the pool root fsynced (new ones included).
 */
export async function fetchOriginal(o: {
  s3: S3Client;
  poolPath: string;
  item: RestoreItem;
  finalPath: string;
  signal?: AbortSignal;
}): Promise<void> {
  const { item } = o;
  const tmp = path.join(o.poolPath, TMP_DIR, `restore-${randomUUID()}.part`);
  let body: Readable;
  try {
    const res = await o.s3.send(new GetObjectCommand({ Bucket: item.bucket, Key: item.key }), { abortSignal: o.signal });
    body = res.Body as Readable;
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') throw new S3ObjectError('missing_in_s3', `s3://${item.bucket}/${item.key} does not exist`);
    throw err;
  }
  const meter = new MeterStream(item.size);
  const file = fs.createWriteStream(tmp, { flags: 'wx' });
  try {
    await pipeline(body, meter, file, { signal: o.signal });
    if (!file.closed) await once(file, 'close');
    if (meter.bytes !== item.size || meter.sha256 !== item.sha256)
      throw new S3ObjectError('corrupt_in_s3', `s3://${item.bucket}/${item.key}: ${meter.bytes} bytes, sha256 ${meter.sha256}; the ledger records ${item.size}, ${item.sha256}`);
    await commitFile(tmp, o.finalPath);
  } catch (err) {
    body.destroy();
    file.destroy();
    await fs.promises.rm(tmp, { force: true });
    if (isAppError(err) && err.code === 'too_large')
      throw new S3ObjectError('corrupt_in_s3', `s3://${item.bucket}/${item.key} is longer than the recorded ${item.size} bytes`);
    throw err;
  }
  const root = path.resolve(o.poolPath);
  for (let d = path.dirname(o.finalPath); d.length > root.length && d.startsWith(root); d = path.dirname(d)) await syncDir(d);
}
