import type { Hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { errors } from '../../shared/errors.js';
import { tusBody } from './body.js';
import { ChecksumHeaderError, type ChecksumStream, parseUploadChecksum } from './checksum.js';

/** A request rebuilt for @tus/server (which takes web Requests), and what its body went through. */
export interface Forwarded {
  req: Request;
  /** Set when the request carried Upload-Checksum; `mismatched` after the body ended. */
  checksum: ChecksumStream | undefined;
  /** The running upload hash the body went into, if any. */
  running: Hash | undefined;
  /** How many body bytes went into `running`. */
  hashed: () => number;
}

/**
 * Rebuilds `raw` (method, URL, headers) for @tus/server. With `incoming`, the Node request's
 * body streams through (see tusBody); without, the request has no body. A malformed or
 * unsupported Upload-Checksum is a 400 before anything is read.
 */
export function forwardToTus(raw: Request, incoming?: IncomingMessage, running?: Hash): Forwarded {
  let expected;
  try {
    expected = parseUploadChecksum(raw.headers.get('upload-checksum'));
  } catch (err) {
    if (err instanceof ChecksumHeaderError) throw errors.badRequest('invalid_checksum', err.message);
    throw err;
  }
  const init: RequestInit & { duplex?: 'half' } = { method: raw.method, headers: raw.headers };
  if (!incoming) return { req: new Request(raw.url, init), checksum: undefined, running, hashed: () => 0 };
  const { body, checksum, hashed } = tusBody(incoming, expected, running);
  init.body = body;
  init.duplex = 'half';
  return { req: new Request(raw.url, init), checksum, running, hashed };
}
