import path from 'node:path';
import type { TransformCallback } from 'node:stream';
import { AppError } from '../../shared/errors.js';
import { mimeForExt } from '../../shared/mime.js';
import { SniffStream } from '../upload/sniff.js';

/**
 * The sniffer of a replicate PUT's body: what the bytes are must be what the path's extension
 * says (a `.webp` variant is WebP), decided from the first bytes before any byte moves on — so a
 * signed peer cannot store HTML, or a script disguised as an image, under an image name that
 * nginx serves with an image type. Refuses with 415: `unsupported_type` when the bytes are no
 * allowed image at all (SniffStream), `type_mismatch` when they are another image type than the
 * extension names.
 *
 * 415 rather than 422: the replicate contract keeps 422 for "the bytes are not the ones the
 * token is bound to" (hash or size, damaged in transit), on which the sender re-reads its own
 * file and retries; here the bytes arrived exactly as signed and will never be acceptable under
 * this name, the same refusal an upload of such bytes gets.
 */
export class ReplicaTypeCheck extends SniffStream {
  readonly #expected: string;
  readonly #rel: string;

  /** `rel`: the pool-relative path the PUT writes (replica-path.ts checked its spelling). */
  constructor(rel: string) {
    super();
    this.#rel = rel;
    this.#expected = mimeForExt(path.posix.extname(rel).slice(1));
  }

  override _transform(chunk: Buffer, enc: BufferEncoding, done: TransformCallback): void {
    super._transform(chunk, enc, this.#checked(done));
  }

  override _flush(done: TransformCallback): void {
    super._flush(this.#checked(done));
  }

  /** SniffStream sets `type` just before it releases the held-back head: refuse it there. */
  #checked(done: TransformCallback): TransformCallback {
    return (err, data) => {
      if (!err && this.type && this.type.mime !== this.#expected) {
        done(
          new AppError({
            code: 'type_mismatch',
            status: 415,
            message: `${this.#rel} must be ${this.#expected}; the body is ${this.type.mime}`,
          }),
        );
        return;
      }
      done(err, data);
    };
  }
}
