import { once } from 'node:events';
import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errors, isAppError } from '../../shared/errors.js';
import type { SniffedType } from '../../shared/mime.js';
import { TMP_DIR } from '../../shared/paths.js';
import { MeterStream } from './meter.js';
import { SniffStream } from './sniff.js';

export interface IngestResult {
  tmpPath: string;
  size: number;
  sha256: string;
  type: SniffedType;
}

export const incompleteBody = () =>
  errors.badRequest('incomplete_body', 'the body ended early (client gone or Content-Length not honoured)');

/**
 * The request body as a stream that ends only when the body really ended, and fails with 400
 * `incomplete_body` when the client goes away first (abort, idle timeout, a Content-Length lie).
 * The request itself is never handed to pipeline(): pipeline destroys its source on error,
 * which would kill the socket before the 413/415 response is written.
 */
export function bodySource(incoming: IncomingMessage): Readable {
  const pass = new PassThrough();
  const onGone = () => {
    if (!incoming.readableEnded) pass.destroy(incompleteBody());
  };
  const ignore = () => undefined;
  incoming.on('error', ignore);
  incoming.once('aborted', onGone);
  incoming.once('close', onGone);
  pass.once('close', () => {
    incoming.unpipe(pass);
    incoming.off('aborted', onGone);
    incoming.off('close', onGone);
  });
  incoming.pipe(pass);
  return pass;
}

/**
 * Streams `source` into `{pool}/tmp/{uuid}.part` through the meter (count, SHA-256, size limit)
 * and the sniffer. Nothing is held in memory beyond stream buffers and the sniffed head.
 * The file is fsynced before close (`flush: true`: on Node 20 a FileHandle stream's `sync()` then
 * `close()` can hang forever). On any failure the temp file is gone before this rejects.
 */
export async function ingestToTmp(opts: {
  source: Readable;
  poolPath: string;
  uuid: string;
  max: number;
  signal: AbortSignal;
}): Promise<IngestResult> {
  const tmpPath = path.join(opts.poolPath, TMP_DIR, `${opts.uuid}.part`);
  const meter = new MeterStream(opts.max);
  const sniff = new SniffStream();
  const file = fs.createWriteStream(tmpPath, { flags: 'wx', flush: true });
  try {
    await pipeline(opts.source, meter, sniff, file, { signal: opts.signal });
    if (!file.closed) await once(file, 'close');
    if (!sniff.type) throw errors.unsupportedType('empty body');
    return { tmpPath, size: meter.bytes, sha256: meter.sha256, type: sniff.type };
  } catch (err) {
    file.destroy();
    if (!file.closed) await once(file, 'close').catch(() => undefined);
    await fs.promises.rm(tmpPath, { force: true });
    throw normalize(err, opts.signal);
  }
}

function normalize(err: unknown, signal: AbortSignal): unknown {
  if (isAppError(err)) return err;
  if (signal.aborted) return isAppError(signal.reason) ? signal.reason : incompleteBody();
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return errors.insufficientStorage('the pool ran out of space');
  if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET') return incompleteBody();
  return err;
}
