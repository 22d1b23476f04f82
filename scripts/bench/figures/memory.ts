import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { createSession, expectStatus, pool } from '../client.js';
import type { Figure } from '../figure.js';
import { row } from '../figure.js';
import { clearOriginals } from '../pool-files.js';
import { summarize } from '../stats.js';

const MiB = 1024 * 1024;
const JPEG_HEAD = Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex');

/** Linux: `5` into clear_refs resets VmHWM, so start-up's peak does not count as the upload's. */
function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** Peak resident set (VmHWM) of a live process, in MiB. */
function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** Peak RSS of a node while it takes one 2 GiB upload (generated, not read from disk), from just before it starts. */
export const memory: Figure = {
  name: 'memory',
  async run(ctx) {
    const size = ctx.quick ? 256 * MiB : 2048 * MiB;
    const peaks: number[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      // A fresh process, so VmHWM is this upload's peak and not an earlier figure's.
      await ctx.cluster.nodes[0]!.stop();
      await ctx.cluster.startNode(0);
      await ctx.cluster.waitForHeartbeats();
      const coordinator = pool(ctx.cluster.info.coordinator_url, 1);
      const s = await createSession(coordinator, ctx.cluster.info.app_key, { user_id: 'bench-memory', file_size: size });
      await coordinator.close();
      resetPeakRss(ctx.cluster.nodes[0]!.pid!);
      const block = randomBytes(MiB);
      const body = Readable.from(
        (function* () {
          yield Buffer.concat([JPEG_HEAD, block.subarray(JPEG_HEAD.length)]);
          for (let sent = MiB; sent < size; sent += MiB) yield block;
        })(),
      );
      const res = await request(s.upload_url, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.token}`, 'content-type': 'image/jpeg', 'content-length': String(size) },
        body,
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      await expectStatus(res, [201]);
      peaks.push(peakRssMiB(ctx.cluster.nodes[0]!.pid!));
      await clearOriginals(ctx.cluster);
      ctx.log(`  memory run ${i + 1}/${ctx.runs}: peak RSS ${peaks.at(-1)!.toFixed(0)} MiB for ${size / MiB} MiB`);
    }
    return [
      row({
        figure: 'memory',
        unit: 'MiB peak RSS',
        fennec: summarize(peaks),
        baselineName: null,
        baseline: null,
        goal: '< 150 MB',
        check: (r) => r.fennec.max * MiB < 150e6,
        extra: { upload_mib: size / MiB },
      }),
    ];
  },
};
