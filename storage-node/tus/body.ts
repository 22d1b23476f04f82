import type { Hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { PassThrough, Readable, Transform } from 'node:stream';
import { ChecksumStream, type ExpectedChecksum } from './checksum.js';

/**
 * A PATCH (or creation-with-upload POST) body for @tus/server, as a web stream. Unlike the
 * direct route's `bodySource`, a client that goes away *ends* the stream instead of failing it:
 * for tus the bytes that arrived are kept, and that is what makes the upload resumable. With
 * `Upload-Checksum` the bytes also pass a hash; `checksum.mismatched` says whether they must be
 * discarded once the store is done with them (an interrupted chunk never matches).
 */
export function tusBody(
  incoming: IncomingMessage,
  expected: ExpectedChecksum | undefined,
  running?: Hash,
): {
  body: ReadableStream<Uint8Array>;
  checksum: ChecksumStream | undefined;
  /** Bytes that went into `running`. */
  hashed: () => number;
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
  let out: Readable = checksum ? pass.pipe(checksum) : pass;
  let hashed = 0;
  if (running) {
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        running.update(chunk);
        hashed += chunk.length;
        done(null, chunk);
      },
    });
    checksum?.once('error', (err) => tap.destroy(err));
    out = out.pipe(tap);
  }
  return { body: Readable.toWeb(out) as ReadableStream<Uint8Array>, checksum, hashed: () => hashed };
}
