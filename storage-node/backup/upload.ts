import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

/** One file to put in the bucket, with the hash the node already knows (SQLite or a fresh read). */
export interface BackupFile {
  bucket: string;
  key: string;
  file: string;
  size: number;
  /** Hex SHA-256 of the file's bytes. */
  sha256: string;
  contentType?: string;
}

/** Parts of 8 MiB, two in flight: at most ~16 MiB of a file in memory however large it is. */
const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;

const hexToBase64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

/**
 * Whether the bucket already holds exactly these bytes: same size and the same SHA-256, either
 * in our `x-amz-meta-sha256` metadata (every S3-compatible store keeps it) or as S3's own
 * full-object SHA-256 checksum (a single-part upload to a store that supports flexible checksums).
 */
export async function inBucket(
  s3: S3Client,
  f: Pick<BackupFile, 'bucket' | 'key' | 'size' | 'sha256'>,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: f.bucket, Key: f.key, ChecksumMode: 'ENABLED' }), {
      abortSignal: signal,
    });
    if (head.ContentLength !== f.size) return false;
    return head.Metadata?.sha256 === f.sha256 || head.ChecksumSHA256 === hexToBase64(f.sha256);
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/**
 * Puts one file in the bucket unless it is already there, then checks it is: a retry after a
 * crash between the upload and the SQLite commit finds the object and uploads nothing. Streamed
 * from disk (multipart above one part); S3 verifies each part's SHA-256 where it supports
 * flexible checksums, and the whole file's hash travels as metadata for stores that do not.
 */
export async function putOnce(s3: S3Client, f: BackupFile, signal?: AbortSignal): Promise<'present' | 'uploaded'> {
  if (await inBucket(s3, f, signal)) return 'present';
  const body = fs.createReadStream(f.file);
  try {
    await uploadBody(s3, f, body, signal);
  } finally {
    body.destroy();
  }
  // Nothing is recorded as backed up that the bucket does not show with the right size and hash.
  if (!(await inBucket(s3, f, signal))) throw new Error(`s3://${f.bucket}/${f.key}: not found with size ${f.size} and sha256 after upload`);
  return 'uploaded';
}

/**
 * Streams `body` to the key (multipart above one part, nothing left of a failed multipart). S3
 * verifies each part's SHA-256 where it supports flexible checksums; `sha256`, when known before
 * the first byte, travels as metadata for stores that do not.
 */
export async function uploadBody(
  s3: S3Client,
  f: { bucket: string; key: string; sha256?: string; contentType?: string },
  body: Readable,
  signal?: AbortSignal,
): Promise<void> {
  const upload = new Upload({
    client: s3,
    params: {
      Bucket: f.bucket,
      Key: f.key,
      Body: body,
      ContentType: f.contentType,
      ChecksumAlgorithm: 'SHA256',
      ...(f.sha256 ? { Metadata: { sha256: f.sha256 } } : {}),
    },
    partSize: PART_SIZE,
    queueSize: QUEUE_SIZE,
    leavePartsOnError: false,
  });
  const abort = () => void upload.abort().catch(() => undefined);
  signal?.addEventListener('abort', abort, { once: true });
  try {
    await upload.done();
  } finally {
    signal?.removeEventListener('abort', abort);
  }
}
