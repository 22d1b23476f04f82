import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { measureWorkerRss, WORKER_MEMORY_MAX_MIB, WORST_ADMITTED } from '../scripts/bench/figures/worker-rss.js';
import { DEFAULT_VARIANT_MAX_PIXELS } from '../storage-node/config.js';

const root = path.resolve(import.meta.dirname, '..');

/**
 * Issue 17 item 3: the worst image the default pixel cap admits (a flat PNG exactly at the cap,
 * a few hundred KB) must fit the worker unit's MemoryMax. Measured in a fresh process running
 * dist/ (build first); the figure is printed. Before: 100 MP cap, 2735 MiB, 21 CPU-s.
 */
describe('job worker peak RSS for the worst admitted image', () => {
  it('the default cap admits WORST_ADMITTED and no more, and the unit file says the same MemoryMax', () => {
    const unit = readFileSync(path.join(root, 'systemd/fennec-node-worker@.service'), 'utf8');
    expect(unit).toMatch(new RegExp(`^MemoryMax=${WORKER_MEMORY_MAX_MIB}M$`, 'm'));
    expect(WORST_ADMITTED.width * WORST_ADMITTED.height).toBe(DEFAULT_VARIANT_MAX_PIXELS);
  });

  it(`stays under the worker's MemoryMax (${WORKER_MEMORY_MAX_MIB} MiB)`, async () => {
    const r = await measureWorkerRss(WORST_ADMITTED.width, WORST_ADMITTED.height);
    console.log(
      `worker peak RSS, ${r.width}×${r.height} PNG (${r.input_bytes} B), parallel ${r.parallel}: ${r.peak_rss_mib} MiB, ${r.cpu_s.toFixed(1)} CPU-s, ${r.wall_s.toFixed(1)} s`,
    );
    expect(r.peak_rss_mib).toBeLessThan(WORKER_MEMORY_MAX_MIB);
  }, 300_000);
});
