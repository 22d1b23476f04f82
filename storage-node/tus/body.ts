import type { IncomingMessage } from 'node:http';
import { PassThrough, Readable } from 'node:stream';
import { ChecksumStream, type ExpectedChecksum } from './checksum.js';

/**
 * A PATCH (or creation-with-upload POST) body for @tus/server, as a web stream. Unlike the
 * direct route's `bodySource`, a client that goes away *ends* the stream instead of failing it:
 * for tus the bytes that arrived are kept, and that is what makes the upload resumable. With
 * `Upload-Checksum` the bytes also pass a hash; `checksum.mismatched` says whether they must be
 * discarded once the store is done with them (an interrupted chunk never matches).
 */
export function tusBody(incoming: IncomingMessage, expected: ExpectedChecksum | undefined): {
  body: ReadableStream<Uint8Array>;
  checksum: ChecksumStream | undefined;
} {
  const pass = new PassThrough({ highWaterMark: 1024 * 1024 });
  const onGone = () => {
    if (!incoming.readableEnded) {
      incoming.unpipe(pass);
      pass.end();
    }
  };
  incoming.on('error', () => undefined);
  incoming.once('aborted', onGone);
  incoming.once('close', onGone);
  pass.once('close', () => {
    incoming.off('aborted', onGone);
    incoming.off('close', onGone);
  });
  incoming.pipe(pass);
  const checksum = expected ? new ChecksumStream(expected) : undefined;
  const out = checksum ? pass.pipe(checksum) : pass;
  return { body: Readable.toWeb(out) as ReadableStream<Uint8Array>, checksum };
}
