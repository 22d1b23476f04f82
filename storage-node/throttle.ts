import { performance } from 'node:perf_hooks';
import { Transform, type TransformCallback } from 'node:stream';

const MIN_BURST = 64 * 1024;
const MAX_BURST = 4 * 1024 * 1024;

/**
 * A token bucket of bytes, shared by everything one cap covers (every file of a scrub pass, every
 * PUT a node sends its peers): the cap is on the total rate, not per file. It starts full, so a small file after a pause passes without sleeping;
 * a chunk larger than what is left puts the bucket in debt and the caller waits that debt off.
 */
export class TokenBucket {
  readonly bytesPerSec: number;
  readonly burst: number;
  #tokens: number;
  #last = performance.now();

  /** bytesPerSec ≤ 0 or not finite: no limit. burst: about 100 ms of reading, unless given. */
  constructor(bytesPerSec: number, burst?: number) {
    this.bytesPerSec = bytesPerSec;
    this.burst = burst ?? Math.min(MAX_BURST, Math.max(MIN_BURST, bytesPerSec / 10));
    this.#tokens = this.burst;
  }

  /** Takes n bytes; returns how many milliseconds to wait before passing them on (0 = at once). */
  take(n: number): number {
    if (!(this.bytesPerSec > 0) || !Number.isFinite(this.bytesPerSec)) return 0;
    const now = performance.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) * this.bytesPerSec) / 1000);
    this.#last = now;
    this.#tokens -= n;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.bytesPerSec) * 1000;
  }
}

/** Passes chunks on no faster than its bucket allows; holds at most one chunk, never a file. */
export class ThrottleStream extends Transform {
  readonly #bucket: TokenBucket;
  #timer: NodeJS.Timeout | undefined;

  constructor(bucket: TokenBucket) {
    super();
    this.#bucket = bucket;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const wait = this.#bucket.take(chunk.length);
    if (wait <= 0) {
      done(null, chunk);
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      done(null, chunk);
    }, wait);
  }

  // An aborted pass destroys the pipeline: a pending sleep must not outlive it (at 1 B/s it is hours).
  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    done(err);
  }
}
