import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Credentials, S3PoolConfig } from '../config.js';
import type { PoolCapacity, PoolStore, WriteOptions, Written } from '../pool-store/pool-store.js';
import { checkWritten, meterLimit, toStoreError } from '../pool-store/store-errors.js';
import { MeterStream } from '../upload/meter.js';
import { s3PoolKey } from './keys.js';

/** One file of an object to put in the bucket, with the hash the node verified. */
export interface S3PoolFile {
  rel: string;
  file: string;
  size: number;
  sha256: string;
  contentType: string;
}

const backupUpload = () => import('../backup/upload.js');

/**
 * A pool of type `s3` as the node uses it, and the second PoolStore: keys, uploads (putOnce:
 * skipped when present, SHA-256 checked after), reads, deletes and presigned GETs. The SDK is
 * imported on first use, so a node without s3 pools (and its upload process) never loads it.
 * A PUT replaces a key atomically; a write that fails its checks after the bytes reached the
 * bucket deletes the key, so a failed write leaves no object at `rel` (not even an older one).
 */
export class S3Pool implements PoolStore {
  readonly config: S3PoolConfig;
  readonly #credentials: S3Credentials;
  #client: Promise<S3Client> | undefined;

  constructor(config: S3PoolConfig, credentials: S3Credentials) {
    this.config = config;
    this.#credentials = credentials;
  }

  get id(): string {
    return this.config.id;
  }

  key(rel: string): string {
    return s3PoolKey(this.config.s3.prefix, rel);
  }

  /** Short timeouts like the backup client's: a hanging S3 fails the attempt, the job's backoff retries. */
  client(): Promise<S3Client> {
    this.#client ??= import('@aws-sdk/client-s3').then(({ S3Client }) => {
      const { endpoint, region, force_path_style } = this.config.s3;
      return new S3Client({
        region,
        ...(endpoint ? { endpoint } : {}),
        forcePathStyle: force_path_style,
        credentials: this.#credentials,
        maxAttempts: 2,
        requestHandler: { connectionTimeout: 5000, requestTimeout: 60_000 },
      });
    });
    return this.#client;
  }

  async put(f: S3PoolFile, signal?: AbortSignal): Promise<'present' | 'uploaded'> {
    const [{ putOnce }, s3] = await Promise.all([backupUpload(), this.client()]);
    return putOnce(
      s3,
      { bucket: this.config.s3.bucket, key: this.key(f.rel), file: f.file, size: f.size, sha256: f.sha256, contentType: f.contentType },
      signal,
    );
  }

  /** Skipped when the bucket already holds the promised bytes (size and SHA-256 both given), as putOnce is. */
  async write(source: Readable, rel: string, opts: WriteOptions): Promise<Written> {
    const [{ uploadBody }, s3] = await Promise.all([backupUpload(), this.client()]);
    const key = this.key(rel);
    const promised =
      opts.expectSize !== undefined && opts.expectSha256 !== undefined ? { size: opts.expectSize, sha256: opts.expectSha256 } : undefined;
    if (promised && (await this.holds(rel, promised, opts))) {
      source.destroy();
      return promised;
    }
    const meter = new MeterStream(meterLimit(opts));
    source.once('error', (err) => meter.destroy(err));
    try {
      await uploadBody(
        s3,
        { bucket: this.config.s3.bucket, key, sha256: opts.expectSha256, contentType: opts.contentType },
        source.pipe(meter),
        opts.signal,
      );
      const written = { size: meter.bytes, sha256: meter.sha256 };
      checkWritten(written, opts);
      if (!opts.expectSha256) await this.#tagSha256(s3, key, written.sha256, opts.contentType);
      return written;
    } catch (err) {
      source.destroy();
      // An aborted or refused single PUT may still have landed: nothing unchecked stays.
      await this.remove(rel).catch(() => undefined);
      throw toStoreError(err, opts);
    }
  }

  /**
   * Metadata is sent before the first byte, so a hash learned only at the end is added by a
   * copy of the object onto itself: every object of the pool carries its SHA-256 for `holds`.
   */
  async #tagSha256(s3: S3Client, key: string, sha256: string, contentType: string | undefined): Promise<void> {
    const { CopyObjectCommand } = await import('@aws-sdk/client-s3');
    const bucket = this.config.s3.bucket;
    await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: key,
        CopySource: `${bucket}/${key}`,
        MetadataDirective: 'REPLACE',
        Metadata: { sha256 },
        ContentType: contentType,
      }),
    );
  }

  async read(rel: string, opts: { signal?: AbortSignal } = {}): Promise<Readable | undefined> {
    const [{ GetObjectCommand }, { isNotFound }, s3] = await Promise.all([import('@aws-sdk/client-s3'), backupUpload(), this.client()]);
    try {
      const res = await s3.send(new GetObjectCommand({ Bucket: this.config.s3.bucket, Key: this.key(rel) }), { abortSignal: opts.signal });
      return res.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async stat(rel: string): Promise<{ size: number } | undefined> {
    const [{ HeadObjectCommand }, { isNotFound }, s3] = await Promise.all([import('@aws-sdk/client-s3'), backupUpload(), this.client()]);
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: this.config.s3.bucket, Key: this.key(rel) }));
      return { size: head.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async holds(rel: string, expected: Written, opts: { signal?: AbortSignal } = {}): Promise<boolean> {
    const [{ inBucket }, s3] = await Promise.all([backupUpload(), this.client()]);
    return inBucket(s3, { bucket: this.config.s3.bucket, key: this.key(rel), ...expected }, opts.signal);
  }

  async remove(rel: string): Promise<void> {
    await this.deleteFiles([rel]);
  }

  /** A bucket has no statfs: its configured capacity less what this node put there. */
  async capacity(usedBytes: number): Promise<PoolCapacity> {
    const total = this.config.capacity_bytes;
    return { total_bytes: total, free_bytes: Math.max(0, total - usedBytes) };
  }

  /** One DeleteObject per key: idempotent (a missing key is a success) and no batch API that some stores lack. */
  async deleteFiles(rels: string[]): Promise<void> {
    const [{ DeleteObjectCommand }, s3] = await Promise.all([import('@aws-sdk/client-s3'), this.client()]);
    for (const rel of rels) await s3.send(new DeleteObjectCommand({ Bucket: this.config.s3.bucket, Key: this.key(rel) }));
  }

  /**
   * A presigned GET (or HEAD) URL of a file. `signedAt` before now keeps the URL the same for a
   * while (see presignWindow), so browsers and CDNs can cache the bucket's answer.
   */
  async presign(rel: string, opts: { method: 'GET' | 'HEAD'; signedAt: Date; expiresIn: number }): Promise<string> {
    const [{ GetObjectCommand, HeadObjectCommand }, { getSignedUrl }, s3] = await Promise.all([
      import('@aws-sdk/client-s3'),
      import('@aws-sdk/s3-request-presigner'),
      this.client(),
    ]);
    const input = { Bucket: this.config.s3.bucket, Key: this.key(rel) };
    const command = opts.method === 'HEAD' ? new HeadObjectCommand(input) : new GetObjectCommand(input);
    return getSignedUrl(s3, command, { expiresIn: opts.expiresIn, signingDate: opts.signedAt });
  }
}

export interface PresignWindow {
  signedAt: Date;
  expiresIn: number;
  /** Seconds the URL stays valid from `nowMs`. */
  remaining: number;
}

/**
 * When to sign and for how long. A public file is signed at the start of the current half of
 * `presignSeconds`, so the same URL comes back for that half and is valid at least half of it
 * more. A private file is signed now and never outlives the signed URL that let it through
 * (`expiresAt`, unix seconds): the bucket must not extend a link that was meant to expire.
 */
export function presignWindow(presignSeconds: number, nowMs: number, expiresAt?: number): PresignWindow {
  const now = Math.floor(nowMs / 1000);
  if (expiresAt !== undefined) {
    const expiresIn = Math.max(1, Math.min(presignSeconds, expiresAt - now));
    return { signedAt: new Date(now * 1000), expiresIn, remaining: expiresIn };
  }
  const half = Math.max(1, Math.floor(presignSeconds / 2));
  const start = now - (now % half);
  return { signedAt: new Date(start * 1000), expiresIn: presignSeconds, remaining: start + presignSeconds - now };
}
