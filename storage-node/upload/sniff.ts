import { Transform, type TransformCallback } from 'node:stream';
import { errors } from '../../shared/errors.js';
import { SNIFF_BYTES, type SniffedType, sniffImageType } from '../../shared/mime.js';

/** 415 for leading bytes that are not an allowed image (the stream and a file on disk alike). */
export const notAnAllowedImage = () =>
  errors.unsupportedType('the body is not an allowed image type (JPEG, PNG, WebP, AVIF, GIF, TIFF, HEIC)');

/**
 * Holds back the first SNIFF_BYTES, decides the type from them (never the name or the
 * Content-Type), then lets everything through. Not an allowed image → 415 before a byte is written.
 */
export class SniffStream extends Transform {
  type: SniffedType | undefined;
  #head: Buffer[] = [];
  #headBytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.type) {
      done(null, chunk);
      return;
    }
    this.#head.push(chunk);
    this.#headBytes += chunk.length;
    if (this.#headBytes < SNIFF_BYTES) {
      done();
      return;
    }
    this.#decide(done);
  }

  override _flush(done: TransformCallback): void {
    if (this.type) done();
    else this.#decide(done);
  }

  #decide(done: TransformCallback): void {
    const head = Buffer.concat(this.#head);
    this.#head = [];
    sniffImageType(head.subarray(0, SNIFF_BYTES)).then(
      (type) => {
        if (!type) {
          done(notAnAllowedImage());
          return;
        }
        this.type = type;
        done(null, head);
      },
      (err: unknown) => done(err as Error),
    );
  }
}
