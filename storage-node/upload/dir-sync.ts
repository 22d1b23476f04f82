import fs from 'node:fs/promises';

interface Waiters {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface DirState {
  running: boolean;
  /** Callers that arrived after the running fsync started: its result does not cover their renames. */
  next: Waiters | undefined;
}

function waiters(): Waiters {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Group commit for directory fsyncs. A 201 needs the rename's directory entry on disk, but one
 * fsync per upload costs 10–45% of small-file throughput (measured). So per
 * directory at most one fsync runs; everyone who renamed before it started shares it, and
 * everyone arriving while it runs waits for the next one (their rename may be after its start).
 */
export class DirSync {
  readonly #dirs = new Map<string, DirState>();
  readonly #windowMs: number;
  readonly #fsync: (dir: string) => Promise<void>;

  constructor(opts: { windowMs?: number; fsync?: (dir: string) => Promise<void> } = {}) {
    this.#windowMs = opts.windowMs ?? 0;
    this.#fsync = opts.fsync ?? fsyncDir;
  }

  /** Resolves once an fsync of `dir` that started after this call has completed. */
  sync(dir: string): Promise<void> {
    let state = this.#dirs.get(dir);
    if (!state) {
      state = { running: false, next: undefined };
      this.#dirs.set(dir, state);
    }
    if (!state.next) {
      state.next = waiters();
      if (!state.running) this.#schedule(dir, state);
    }
    return state.next.promise;
  }

  #schedule(dir: string, state: DirState): void {
    state.running = true;
    const run = () => {
      const batch = state.next!;
      state.next = undefined;
      this.#fsync(dir)
        .then(batch.resolve, batch.reject)
        .finally(() => {
          state.running = false;
          if (state.next) this.#schedule(dir, state);
          else this.#dirs.delete(dir);
        });
    };
    if (this.#windowMs > 0) setTimeout(run, this.#windowMs);
    else setImmediate(run);
  }
}
