import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * The tus checksum extension (not implemented by @tus/server): `Upload-Checksum: <algo> <base64>`
 * covers exactly the bytes of one PATCH (or a creation-with-upload POST). These are the
 * algorithms we take; OPTIONS advertises them in `Tus-Checksum-Algorithm`.
 */
export const CHECKSUM_ALGORITHMS = ['sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

export interface ExpectedChecksum {
  algorithm: ChecksumAlgorithm;
  digest: Buffer;
}

/** What a bad header is, so the route can answer 400 (bad syntax or unsupported algorithm). */
export class ChecksumHeaderError extends Error {}

/** Parses `Upload-Checksum`; undefined when the header is absent. */
export function parseUploadChecksum(header: string | null | undefined): ExpectedChecksum | undefined {
  if (header === null || header === undefined) return undefined;
  const m = /^\s*([a-z0-9-]+)\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  if (!m) throw new ChecksumHeaderError('Upload-Checksum must be "<algorithm> <base64 digest>"');
  const algorithm = m[1]!.toLowerCase();
  if (!(CHECKSUM_ALGORITHMS as readonly string[]).includes(algorithm))
    throw new ChecksumHeaderError(`checksum algorithm ${algorithm} is not supported (${CHECKSUM_ALGORITHMS.join(', ')})`);
  return { algorithm: algorithm as ChecksumAlgorithm, digest: Buffer.from(m[2]!, 'base64') };
}

/**
 * The error a mismatching chunk fails its stream with, *before* the stream's end: the data
 * store never sees a complete body, so nothing can treat the bad bytes as a finished upload.
 * (@tus/server reports a failed body as an aborted request; the route answers 460 and cuts the
 * bytes that did reach the file.)
 */
export class ChecksumMismatchError extends Error {}

/** Passes bytes through while hashing them; at the end, a mismatch fails the stream. */
export class ChecksumStream extends Transform {
  mismatched = false;
  readonly #hash: Hash;
  readonly #expected: Buffer;

  constructor(expected: ExpectedChecksum) {
    super();
    this.#hash = createHash(expected.algorithm);
    this.#expected = expected.digest;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.#hash.digest().equals(this.#expected)) {
      done();
      return;
    }
    this.mismatched = true;
    done(new ChecksumMismatchError('Upload-Checksum does not match the body'));
  }
}
