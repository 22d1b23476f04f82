import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Figure } from '../figure.js';
import { row } from '../figure.js';
import { summarize } from '../stats.js';

const run = promisify(execFile);
// Built, from dist/ (the bench) or from the source tree (test/worker-rss.test.ts, after a build).
const here = path.dirname(fileURLToPath(import.meta.url));
const probe = here.split(path.sep).includes('dist')
  ? path.join(here, '..', 'worker-rss-probe.js')
  : path.join(here, '..', '..', '..', 'dist', 'scripts', 'bench', 'worker-rss-probe.js');

/** The worst image the default FENNEC_VARIANT_MAX_PIXELS (50 000 000) admits: exactly at the cap, flat, so a few hundred KB. */
export const WORST_ADMITTED = { width: 10_000, height: 5_000 };

/** The systemd worker unit's MemoryMax (systemd/fennec-node-worker@.service), in MiB. */
export const WORKER_MEMORY_MAX_MIB = 1536;

export interface WorkerRss {
  width: number;
  height: number;
  parallel: number;
  input_bytes: number;
  peak_rss_mib: number;
  cpu_s: number;
  wall_s: number;
}

/** One fresh process (dist/scripts/bench/worker-rss-probe.js) makes every default variant of one flat PNG. */
export async function measureWorkerRss(width: number, height: number, parallel?: number): Promise<WorkerRss> {
  const args = [probe, String(width), String(height), ...(parallel ? [String(parallel)] : [])];
  const { stdout } = await run(process.execPath, args, { maxBuffer: 1 << 20, timeout: 600_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as WorkerRss;
}

/**
 * Peak RSS of the job worker's variant work (both phases, the worker's sharp settings) for the
 * worst image the default pixel cap admits. Before issue 17 item 3 the cap was 100 MP and a
 * 311 KB PNG at it took the worker to 2.7 GiB; the goal is the worker unit's MemoryMax.
 */
export const workerRss: Figure = {
  name: 'worker-rss',
  async run(ctx) {
    // --quick (the harness test): a 12 MP photo's size, only to keep the figure from rotting.
    const { width, height } = ctx.quick ? { width: 4000, height: 3000 } : WORST_ADMITTED;
    const peaks: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      const r = await measureWorkerRss(width, height);
      peaks.push(r.peak_rss_mib);
      cpu.push(r.cpu_s);
      ctx.log(
        `  worker-rss run ${i + 1}/${ctx.runs}: ${width}×${height} PNG (${r.input_bytes} B): peak ${r.peak_rss_mib} MiB, ${r.cpu_s.toFixed(1)} CPU-s`,
      );
    }
    return [
      row({
        figure: 'worker-rss',
        unit: 'MiB peak RSS',
        fennec: summarize(peaks),
        baselineName: null,
        baseline: null,
        goal: `< ${WORKER_MEMORY_MAX_MIB} MiB (worker MemoryMax)`,
        check: (r) => r.fennec.max < WORKER_MEMORY_MAX_MIB,
        extra: { width, height, cpu_s: summarize(cpu) },
      }),
    ];
  },
};
