import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { type Dispatcher, request } from 'undici';
import { AppError } from '../../shared/errors.js';
import type { CopyTarget } from '../../shared/jobs.js';
import {
  CONTENT_SHA256_HEADER,
  encodeMeta,
  OBJECT_META_HEADER,
  PURPOSE_REPLICATE,
  type ReplicaMeta,
  type ReplicateBind,
  replicatePath,
} from '../../shared/replication.js';
import { type SigningKey, sha256Hex, signNodeRequest } from '../../shared/tokens.js';
import { ThrottleStream, type TokenBucket } from '../throttle.js';
import { hashFile } from './hash-file.js';

export interface SenderDeps {
  nodeId: string;
  nodeKey: SigningKey;
  /** The node's bandwidth cap, one bucket for every PUT it sends (absent = none). */
  bucket?: TokenBucket;
  dispatcher?: Dispatcher;
  /** Between two body chunks and for the answer; a stalled peer must not hold a job forever. */
  idleTimeoutMs?: number;
}

export interface PutFileInput {
  target: CopyTarget;
  /** Pool-relative path, the same on both sides. */
  relPath: string;
  /** Absolute path of the local file. */
  file: string;
  size: number;
  /** What the file should hash to (the node's record): the token is bound to it. */
  sha256: string;
  /** Only on an original: the record the target stores with it. */
  meta?: ReplicaMeta;
}

export type PutOutcome = 'stored' | 'identical';

/** The local file does not hash to its record: it must be repaired, not sent. */
export class LocalCopyBad extends Error {
  constructor(
    readonly reason: 'missing' | 'mismatch',
    message: string,
  ) {
    super(message);
    this.name = 'LocalCopyBad';
  }
}

/** The target refused for good (bad path, conflicting record): retrying the same PUT cannot help. */
function refused(status: number, body: string): AppError {
  return new AppError({
    code: 'replicate_refused',
    status: 502,
    retryable: false,
    message: `target answered ${status}: ${body.slice(0, 300)}`,
  });
}

/**
 * Streams one local file to a peer's replicate route (never buffered: a read stream, the
 * bandwidth cap, undici). The target verifies size and SHA-256 before it keeps
 * anything; after a 422 the local file is re-read to tell whether it was our own file's fault.
 */
export async function putFile(deps: SenderDeps, input: PutFileInput, signal?: AbortSignal): Promise<PutOutcome> {
  const metaHeader = input.meta ? encodeMeta(input.meta) : undefined;
  const bind: ReplicateBind = {
    pool: input.target.pool_id,
    path: input.relPath,
    size: input.size,
    meta: metaHeader ? sha256Hex(metaHeader) : '',
  };
  const token = await signNodeRequest(
    { nodeId: deps.nodeId, audience: input.target.node_id, purpose: PURPOSE_REPLICATE, sha256: input.sha256, bind, ttlSeconds: 600 },
    deps.nodeKey,
  );
  let source: fs.ReadStream;
  try {
    const st = await fs.promises.stat(input.file);
    if (st.size !== input.size) throw new LocalCopyBad('mismatch', `${input.file} has ${st.size} bytes, the record says ${input.size}`);
    // 1 MiB reads, as uploads write: fewer, larger chunks through the meter, throttle and socket.
    source = fs.createReadStream(input.file, { highWaterMark: 1024 * 1024 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new LocalCopyBad('missing', `${input.file} is missing`);
    throw err;
  }
  let body: Readable = source;
  if (deps.bucket) {
    const throttle = new ThrottleStream(deps.bucket);
    source.once('error', (err) => throttle.destroy(err));
    body = source.pipe(throttle);
  }
  const url = `${input.target.url.replace(/\/+$/, '')}${replicatePath(input.target.pool_id, input.relPath)}`;
  const res = await request(url, {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/octet-stream',
      'content-length': String(input.size),
      [CONTENT_SHA256_HEADER]: input.sha256,
      ...(metaHeader ? { [OBJECT_META_HEADER]: metaHeader } : {}),
    },
    body,
    signal,
    dispatcher: deps.dispatcher,
    headersTimeout: deps.idleTimeoutMs ?? 60_000,
    bodyTimeout: deps.idleTimeoutMs ?? 60_000,
  }).finally(() => source.destroy());
  const text = await res.body.text().catch(() => '');
  if (res.statusCode === 201) return 'stored';
  if (res.statusCode === 200) return 'identical';
  if (res.statusCode === 422) {
    // Rare: re-read the local file only now, instead of hashing every byte sent (the target
    // hashes them anyway, and a second SHA-256 pass cost the copy ~20% of its rate).
    const local = await hashFile(input.file).catch(() => undefined);
    if (local && local.sha256 !== input.sha256)
      throw new LocalCopyBad('mismatch', `${input.file} hashes to ${local.sha256}, the record says ${input.sha256}`);
  }
  // 415: the bytes are not the image type their name says; the same bytes are refused every time.
  if (res.statusCode === 400 || res.statusCode === 404 || res.statusCode === 409 || res.statusCode === 415)
    throw refused(res.statusCode, text);
  // 401 (the peer's key cache may be behind), 422 in transit, 429, 5xx, 507: the job retries with backoff.
  throw new AppError({
    code: 'replicate_failed',
    status: 502,
    retryable: true,
    message: `target answered ${res.statusCode}: ${text.slice(0, 300)}`,
  });
}
