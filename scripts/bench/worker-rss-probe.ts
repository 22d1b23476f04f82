import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { type PipelineJob, runPhase } from '../../storage-node/variants/pipeline.js';
import { DEFAULT_RECIPE, planVariants } from '../../storage-node/variants/recipe.js';

/**
 * `node dist/scripts/bench/worker-rss-probe.js WIDTH HEIGHT [PARALLEL]`: makes every default
 * variant of one flat WIDTH×HEIGHT PNG (a flat image compresses to a few hundred KB, so the pixel
 * cap is all that bounds it) the way the job worker does (one libvips thread per encode, both
 * phases), then prints one JSON line: the process's peak RSS (VmHWM) and CPU seconds. A fresh
 * process per image, so the peak is this image's. Used by the `worker-rss` figure and its test.
 */
const [width, height] = [Number(process.argv[2] ?? 10_000), Number(process.argv[3] ?? 10_000)];
const parallel = Number(process.argv[4] ?? os.availableParallelism());
sharp.concurrency(1); // as worker-process.ts

const base = mkdtempSync(path.join(os.tmpdir(), 'fennec-rss-'));
try {
  mkdirSync(path.join(base, 'tmp'));
  mkdirSync(path.join(base, 'original/2026/01/02'), { recursive: true });
  const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e';
  const rel = `original/2026/01/02/${uuid}.png`;
  await sharp({ create: { width, height, channels: 3, background: { r: 90, g: 140, b: 200 } } })
    .png()
    .toFile(path.join(base, rel));
  const input_bytes = readFileSync(path.join(base, rel)).length;
  // The PNG was made in this process: start the peak and the CPU clock after it.
  const rssBefore = vm('VmRSS');
  writeClearRefs();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const job: PipelineJob = { uuid, poolPath: base, originalRelPath: rel, recipe: DEFAULT_RECIPE, maxPixels: width * height, parallel };
  const plan = planVariants(DEFAULT_RECIPE, 'png');
  await runPhase(
    job,
    plan.filter((v) => v.phase === 'thumbnails'),
  );
  await runPhase(
    job,
    plan.filter((v) => v.phase === 'full'),
  );
  const cpu = process.cpuUsage(cpu0);
  console.log(
    JSON.stringify({
      width,
      height,
      parallel,
      input_bytes,
      rss_before_mib: rssBefore,
      peak_rss_mib: vm('VmHWM'),
      cpu_s: (cpu.user + cpu.system) / 1e6,
      wall_s: (performance.now() - t0) / 1000,
    }),
  );
} finally {
  rmSync(base, { recursive: true, force: true });
}

function vm(field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : Number.NaN;
}

/** Linux: `5` resets VmHWM, so making the input does not count as the worker's peak. */
function writeClearRefs(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // Not Linux, or not allowed: the peak then includes making the input.
  }
}
