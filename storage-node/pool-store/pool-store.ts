import type { Readable, Transform } from 'node:stream';

/** What a pool reports to the heartbeat and checks before taking bytes. */
export interface PoolCapacity {
  total_bytes: number;
  free_bytes: number;
}

/** How a write is checked while it streams; every failure leaves nothing at `rel` that was not there. */
export interface WriteOptions {
  /** 413 `too_large` the moment the body passes it (the bytes past it are never stored). */
  maxBytes?: number;
  /**
   * The exact size the caller was promised: any other length is 422 `size_mismatch` (a longer
   * body fails as soon as it passes it). Replaces `maxBytes` as the limit.
   */
  expectSize?: number;
  /** 422 `checksum_mismatch` when the body hashes otherwise. */
  expectSha256?: string;
  /** Stored with the object where the store keeps one (S3); a disk store ignores it. */
  contentType?: string;
  signal?: AbortSignal;
}

/** What was stored. */
export interface Written {
  size: number;
  /** Hex SHA-256 of the stored bytes. */
  sha256: string;
}

/**
 * Where a pool's bytes go, as tus-node-server's `DataStore` is for it: a disk directory or an
 * S3 bucket. Paths are pool-relative (`original/2026/12/01/{uuid}.jpg`), checked by the caller.
 * Errors are `AppError`s (shared/errors.ts) where the caller can answer with them: 413
 * `too_large`, 422 `size_mismatch`/`checksum_mismatch`, 400 `incomplete_body`, 507
 * `insufficient_storage`.
 */
export interface PoolStore {
  /** Streams `source` to `rel`, metered and hashed; atomic: a reader sees the old bytes or all the new. */
  write(source: Readable, rel: string, opts: WriteOptions): Promise<Written>;
  /** The stored bytes as a stream, or undefined when there is nothing at `rel`. */
  read(rel: string, opts?: { signal?: AbortSignal }): Promise<Readable | undefined>;
  /** Size of what is at `rel`, or undefined when nothing is. */
  stat(rel: string): Promise<{ size: number } | undefined>;
  /** Whether exactly these bytes are at `rel` (checked from the store, since a record can be wrong). */
  holds(rel: string, expected: Written, opts?: { signal?: AbortSignal }): Promise<boolean>;
  /** Removes `rel`; nothing there is a success. */
  remove(rel: string): Promise<void>;
  /** Total and free bytes, given what the node's records say it keeps here. */
  capacity(usedBytes: number): Promise<PoolCapacity>;
}

/** Options of a staged write on disk: a `WriteOptions` plus a Transform in the stream (the sniffer). */
export interface StageOptions extends WriteOptions {
  /** Sits after the meter, before the file: sees every byte in order and may fail the write. */
  transform?: Transform;
  /** Base name of the temp file in `tmp/` (`.part` is added); random by default. */
  tmpName?: string;
}
