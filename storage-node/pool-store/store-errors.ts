import { AppError, errors, isAppError } from '../../shared/errors.js';

export const incompleteBody = () =>
  errors.badRequest('incomplete_body', 'the body ended early (client gone or Content-Length not honoured)');

export const sizeMismatch = (message: string) => new AppError({ code: 'size_mismatch', status: 422, message });

const NO_ROOM = new Set(['ENOSPC', 'EDQUOT']);
const CUT_SHORT = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET']);

/**
 * The one mapping of a failed write to what the caller answers: a full disk is 507, a body cut
 * short (client gone, abort) is 400 `incomplete_body` unless the abort carried its own AppError,
 * and the meter's 413 becomes 422 `size_mismatch` where the caller promised a size.
 */
export function toStoreError(err: unknown, opts: { signal?: AbortSignal; expectSize?: number } = {}): unknown {
  if (isAppError(err)) {
    if (err.code === 'too_large' && opts.expectSize !== undefined)
      return sizeMismatch(`the body is longer than the ${opts.expectSize} bytes promised`);
    return err;
  }
  if (opts.signal?.aborted) return isAppError(opts.signal.reason) ? opts.signal.reason : incompleteBody();
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code && NO_ROOM.has(code)) return errors.insufficientStorage('the pool ran out of space');
  if (code && CUT_SHORT.has(code)) return incompleteBody();
  return err;
}

/** The checks a store makes once the whole body went through its meter. */
export function checkWritten(got: { size: number; sha256: string }, opts: { expectSize?: number; expectSha256?: string }): void {
  if (opts.expectSize !== undefined && got.size !== opts.expectSize)
    throw sizeMismatch(`the body has ${got.size} bytes, ${opts.expectSize} were promised`);
  if (opts.expectSha256 !== undefined && got.sha256 !== opts.expectSha256)
    throw errors.checksumMismatch(`the body hashes to ${got.sha256}, ${opts.expectSha256} was promised`);
}

/** The limit the meter enforces: the promised size when there is one. */
export const meterLimit = (opts: { maxBytes?: number; expectSize?: number }): number =>
  opts.expectSize ?? opts.maxBytes ?? Number.POSITIVE_INFINITY;
