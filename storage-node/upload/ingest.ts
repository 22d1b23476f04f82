import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { errors } from '../../shared/errors.js';
import type { SniffedType } from '../../shared/mime.js';
import { DiskStore, type Staged } from '../pool-store/disk-store.js';
import { incompleteBody } from '../pool-store/store-errors.js';
import { SniffStream } from './sniff.js';

export { incompleteBody };

/** A body staged in `{pool}/tmp/`, fsynced, with the type sniffed from its first bytes. */
export interface IngestResult extends Staged {
  type: SniffedType;
}

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
 * Streams `source` into `{pool}/tmp/{uuid}.part` through the disk store's meter (count, SHA-256,
 * size limit) and the sniffer. Nothing is held in memory beyond stream buffers and the sniffed
 * head. On any failure the temp file is gone before this rejects.
 */
export async function ingestToTmp(opts: {
  source: Readable;
  poolPath: string;
  uuid: string;
  max: number;
  signal: AbortSignal;
}): Promise<IngestResult> {
  const disk = new DiskStore({ root: opts.poolPath });
  const sniff = new SniffStream();
  const staged = await disk.stage(opts.source, { maxBytes: opts.max, signal: opts.signal, transform: sniff, tmpName: opts.uuid });
  if (!sniff.type) {
    await disk.discard(staged);
    throw errors.unsupportedType('empty body');
  }
  return { ...staged, type: sniff.type };
}
