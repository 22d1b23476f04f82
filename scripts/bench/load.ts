import { performance } from 'node:perf_hooks';

export interface LoadResult {
  /** Completed operations per second over the measured window. */
  rate: number;
  ok: number;
  failed: number;
  /** Per-operation latency in ms (successful ones). */
  latenciesMs: number[];
  /** The first few failure messages, to explain a bad figure. */
  errors: string[];
}

/**
 * A closed-loop load generator: `concurrency` workers each run `op` back to back for
 * `durationMs`. Bounded in time by construction; only loopback targets are ever passed in.
 */
export async function runClosedLoop(opts: {
  concurrency: number;
  durationMs: number;
  /** Runs the same load this long first, unrecorded: connections, JIT, caches. */
  warmupMs?: number;
  op: (worker: number, seq: number) => Promise<void>;
}): Promise<LoadResult> {
  if (opts.warmupMs) await runClosedLoop({ ...opts, durationMs: opts.warmupMs, warmupMs: 0 });
  const latenciesMs: number[] = [];
  const errors: string[] = [];
  let ok = 0;
  let failed = 0;
  let seq = 0;
  const start = performance.now();
  const end = start + opts.durationMs;
  const worker = async (w: number) => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await opts.op(w, seq++);
        latenciesMs.push(performance.now() - t0);
        ok++;
      } catch (err) {
        failed++;
        if (errors.length < 5) errors.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, w) => worker(w)));
  const elapsed = (performance.now() - start) / 1000;
  return { rate: ok / elapsed, ok, failed, latenciesMs, errors };
}
