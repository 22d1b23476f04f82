import type { IncomingMessage } from 'node:http';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import busboy from 'busboy';
import { errors, isAppError } from '../../shared/errors.js';
import { bodySource } from './ingest.js';

/** The form field that carries the file. */
export const FILE_FIELD = 'file';

/**
 * Bytes a multipart body may carry beyond the file itself: boundaries, part headers and a few
 * small fields (a title, a CSRF token). The busboy limits below fit inside it.
 */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** Counts and limits of the parts around the file; a form past any of them is refused with 413. */
const PART_LIMITS = { files: 4, fields: 32, fieldSize: 8 * 1024, parts: 40, headerPairs: 32 } as const;

export interface MultipartOptions<T> {
  /** The token's `max`: the whole body may be this plus MULTIPART_OVERHEAD_BYTES. */
  maxFileBytes: number;
  /**
   * Undoes what `onFile` kept (removes its temp file) when the form fails after the file was
   * handled — junk after the file part, a broken closing boundary: short of a 201, nothing stays.
   */
  discard: (value: T) => Promise<void>;
}

/**
 * Fails with 413 `too_large` the moment more than `max` bytes went through: the bytes past the
 * limit never reach busboy. Counts only — the file part has its own hashing meter.
 */
class BodyLimit extends Transform {
  #bytes = 0;

  constructor(private readonly max: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.max)
      done(errors.tooLarge(`multipart body exceeds the ${this.max} bytes this token allows with its form overhead`));
    else done(null, chunk);
  }
}

const tooManyParts = (what: string, limit: number) => errors.tooLarge(`multipart body has more than ${limit} ${what}`);

/**
 * Feeds a multipart/form-data request through busboy and hands the first file part named
 * `file` to `onFile` as a stream (other files are skipped, other fields ignored). Every byte of
 * the body counts — other parts included — against the token's `max` plus a fixed overhead
 * allowance, and the number and size of the other parts are capped: a form of junk parts
 * around a small file is refused with 413, not read to its end. Resolves with onFile's result
 * once both the file is handled and the form ended; rejects at the first failure (onFile's
 * 413/415 included) without waiting for the rest of the body, but only after onFile settled and
 * anything it kept was discarded.
 */
export function ingestMultipart<T>(
  incoming: IncomingMessage,
  onFile: (file: Readable) => Promise<T>,
  opts: MultipartOptions<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: incoming.headers, limits: PART_LIMITS });
    } catch (err) {
      reject(errors.badRequest('bad_multipart', (err as Error).message, err));
      return;
    }
    const source = bodySource(incoming);
    const limit = new BodyLimit(opts.maxFileBytes + MULTIPART_OVERHEAD_BYTES);
    let current: Readable | undefined;
    let result: Promise<T> | undefined;
    let settled = false;
    const fail = (err: unknown) => {
      current?.destroy(err as Error);
      if (settled) return;
      settled = true;
      limit.unpipe(bb);
      source.unpipe(limit);
      source.destroy();
      // A file handled before the failure (or still being written) must not outlive the refusal.
      const cleanup = result
        ? result.then(
            (value) => opts.discard(value),
            () => undefined,
          )
        : Promise.resolve();
      cleanup.catch(() => undefined).finally(() => reject(err));
    };
    bb.on('file', (name, stream) => {
      if (name !== FILE_FIELD || result) {
        stream.resume();
        return;
      }
      current = stream;
      result = onFile(stream);
      result.catch(fail);
    });
    bb.on('field', (_name, _value, info) => {
      if (info.valueTruncated) fail(errors.tooLarge(`a multipart field is longer than ${PART_LIMITS.fieldSize} bytes`));
    });
    bb.on('partsLimit', () => fail(tooManyParts('parts', PART_LIMITS.parts)));
    bb.on('filesLimit', () => fail(tooManyParts('files', PART_LIMITS.files)));
    bb.on('fieldsLimit', () => fail(tooManyParts('fields', PART_LIMITS.fields)));
    bb.on('error', (err) => fail(errors.badRequest('bad_multipart', `malformed multipart body: ${(err as Error).message}`, err)));
    bb.on('close', () => {
      if (!result) {
        fail(errors.badRequest('missing_file', `multipart body has no file field "${FILE_FIELD}"`));
        return;
      }
      result.then((value) => {
        if (settled) return;
        settled = true;
        resolve(value);
      }, fail);
    });
    source.on('error', (err) => fail(isAppError(err) ? err : errors.badRequest('incomplete_body', 'body ended early', err)));
    limit.on('error', fail);
    source.pipe(limit).pipe(bb);
  });
}
