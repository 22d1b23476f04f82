import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as tus from 'tus-js-client';
import { Agent } from 'undici';
import { createSession, pool, uploadFile } from '../client.js';
import type { BenchContext, Figure, FigureRow } from '../figure.js';
import { row } from '../figure.js';
import { clearOriginals } from '../pool-files.js';
import { type Summary, summarize } from '../stats.js';
import { makeInputFile, rawLargeResult } from './ingest-large.js';

const MiB = 1024 * 1024;
const CHUNK = 8 * MiB;

/** One file through tus-js-client in 8 MB PATCHes, as a phone app would send it. */
function tusUpload(opts: { url: string; token: string; file: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(createReadStream(opts.file), {
      endpoint: opts.url,
      headers: { authorization: `Bearer ${opts.token}` },
      chunkSize: CHUNK,
      retryDelays: null,
      onSuccess: () => resolve(),
      onError: reject,
    });
    upload.start();
  });
}

async function timed(fn: () => Promise<unknown>, bytes: number): Promise<number> {
  execFileSync('sync');
  const t0 = performance.now();
  await fn();
  return bytes / MiB / ((performance.now() - t0) / 1000);
}

/**
 * tus throughput for a large file in 8 MB chunks beside the direct raw upload of the same size:
 * the one `ingest-large` measured in this run, or (with `--only tus`) measured here.
 */
export const tusLarge: Figure = {
  name: 'tus',
  async run(ctx: BenchContext): Promise<FigureRow[]> {
    const size = ctx.quick ? 64 * MiB : 1024 * MiB;
    const file = path.join(ctx.workDir, 'large.bin');
    await makeInputFile(file, size);
    const { info } = ctx.cluster;
    const coordinator = pool(info.coordinator_url, 2);
    const agent = new Agent({ headersTimeout: 0, bodyTimeout: 0 });
    // Right after the cluster starts the coordinator may not have seen a heartbeat yet (503).
    const session = async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await createSession(coordinator, info.app_key, { user_id: 'bench-tus', file_size: size });
        } catch (err) {
          if (attempt >= 20 || !/HTTP 503/.test((err as Error).message)) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    };
    const shared = rawLargeResult();
    const raw: number[] = [];
    const results: number[] = [];
    try {
      const warm = await session(); // first connections, JIT, the input file into the page cache
      await tusUpload({ url: warm.tus_url, token: warm.token, file });
      await clearOriginals(ctx.cluster);
      for (let i = 0; i < ctx.runs; i++) {
        const s = await session();
        results.push(await timed(() => tusUpload({ url: s.tus_url, token: s.token, file }), size));
        await clearOriginals(ctx.cluster);
        if (!shared || shared.size !== size) {
          const d = await session();
          raw.push(await timed(() => uploadFile({ url: d.upload_url, token: d.token, file, size, dispatcher: agent }), size));
          await clearOriginals(ctx.cluster);
        }
        ctx.log(
          `  tus run ${i + 1}/${ctx.runs}: ${results.at(-1)!.toFixed(0)} MB/s${raw.length ? `, direct raw ${raw.at(-1)!.toFixed(0)} MB/s` : ''}`,
        );
      }
    } finally {
      await Promise.all([agent.close(), coordinator.close()]);
    }
    const baseline: Summary = shared && shared.size === size ? shared.summary : summarize(raw);
    return [
      row({
        figure: 'tus 8 MB chunks',
        unit: 'MiB/s',
        fennec: summarize(results),
        baselineName: 'direct raw upload',
        baseline,
        goal: '≥ 0.8×',
        minRatio: 0.8,
        extra: { size_mib: size / MiB, chunk_mib: CHUNK / MiB },
      }),
    ];
  },
};
