import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { errors } from '../../shared/errors.js';

/**
 * Counts and hashes bytes as they flow and fails with 413 `too_large` the moment the count
 * passes `max` — the bytes past the limit are never written anywhere.
 */
export class MeterStream extends Transform {
  bytes = 0;
  readonly #hash: Hash = createHash('sha256');
  readonly #max: number;
  #digest: string | undefined;

  constructor(max: number) {
    super();
    this.#max = max;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.#max) {
      done(errors.tooLarge(`body exceeds the ${this.#max} bytes this token allows`));
      return;
    }
    this.#hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.#digest = this.#hash.digest('hex');
    done();
  }

  /** SHA-256 hex of everything that passed; only after the stream ended. */
  get sha256(): string {
    if (this.#digest === undefined) throw new Error('MeterStream: digest read before the end');
    return this.#digest;
  }
}
