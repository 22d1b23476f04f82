import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { errors, isAppError } from '../../shared/errors.js';
import { bodySource } from './ingest.js';

/** The form field that carries the file. */
export const FILE_FIELD = 'file';

/**
 * Feeds a multipart/form-data request through busboy and hands the first file part named
 * `file` to `onFile` as a stream (other files are skipped, other fields ignored). Resolves with
 * onFile's result once both the file is handled and the form ended; rejects at the first failure
 * (onFile's 413/415 included) without waiting for the rest of the body.
 */
export function ingestMultipart<T>(incoming: IncomingMessage, onFile: (file: Readable) => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: incoming.headers,
        limits: { files: 16, fields: 64, fieldSize: 64 * 1024, parts: 128, headerPairs: 64 },
      });
    } catch (err) {
      reject(errors.badRequest('bad_multipart', (err as Error).message, err));
      return;
    }
    const source = bodySource(incoming);
    let current: Readable | undefined;
    let result: Promise<T> | undefined;
    let settled = false;
    const fail = (err: unknown) => {
      current?.destroy(err as Error);
      if (settled) return;
      settled = true;
      source.unpipe(bb);
      source.destroy();
      reject(err);
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
    source.pipe(bb);
  });
}
