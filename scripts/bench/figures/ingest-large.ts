import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent } from 'undici';
import { createSession, pool, uploadFile } from '../client.js';
import type { BenchContext, Figure, FigureRow } from '../figure.js';
import { row } from '../figure.js';
import { clearOriginals } from '../pool-files.js';
import { type Summary, summarize } from '../stats.js';

const MiB = 1024 * 1024;
const JPEG_HEAD = Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex');

/** A file that sniffs as JPEG, filled with random bytes, written once per bench run. */
export async function makeInputFile(file: string, size: number): Promise<void> {
  const out = createWriteStream(file);
  const block = randomBytes(4 * MiB);
  out.write(JPEG_HEAD);
  let left = size - JPEG_HEAD.length;
  while (left > 0) {
    const n = Math.min(left, block.length);
    if (!out.write(block.subarray(0, n))) await once(out, 'drain');
    left -= n;
  }
  out.end();
  await once(out, 'finish');
}

/**
 * Throughput of one upload. `sync` first: the dirty pages of the previous upload (or of the
 * input file) would otherwise be written back during this one and charge it for them.
 */
async function timed(fn: () => Promise<unknown>, bytes: number): Promise<number> {
  execFileSync('sync');
  const t0 = performance.now();
  await fn();
  return bytes / MiB / ((performance.now() - t0) / 1000);
}

/** The raw upload measured by this run's `ingest-large`, for the `tus` figure to compare against. */
let rawLarge: { size: number; summary: Summary } | undefined;
export const rawLargeResult = () => rawLarge;

export const ingestLarge: Figure = {
  name: 'ingest-large',
  async run(ctx: BenchContext): Promise<FigureRow[]> {
    const size = ctx.quick ? 64 * MiB : 1024 * MiB;
    const file = path.join(ctx.workDir, 'large.bin');
    await makeInputFile(file, size);
    const { info } = ctx.cluster;
    const agent = new Agent({ headersTimeout: 0, bodyTimeout: 0 });
    const coordinator = pool(info.coordinator_url, 2);
    const results: Record<string, number[]> = { raw: [], multipart: [], node: [], nginx: [] };
    // Warm-up, not counted: first connections, JIT, the input file into the page cache.
    const warm = await createSession(coordinator, info.app_key, { user_id: 'bench-large', file_size: size });
    await uploadFile({ url: warm.upload_url, token: warm.token, file, size, dispatcher: agent });
    await uploadFile({ url: `${ctx.bareNodeUrl}/large`, method: 'PUT', file, size, dispatcher: agent });
    await clearOriginals(ctx.cluster);
    for (let i = 0; i < ctx.runs; i++) {
      for (const multipart of [false, true]) {
        const s = await createSession(coordinator, info.app_key, { user_id: 'bench-large', file_size: size });
        results[multipart ? 'multipart' : 'raw']!.push(
          await timed(() => uploadFile({ url: s.upload_url, token: s.token, file, size, multipart, dispatcher: agent }), size),
        );
        await clearOriginals(ctx.cluster);
      }
      results.node!.push(
        await timed(() => uploadFile({ url: `${ctx.bareNodeUrl}/large`, method: 'PUT', file, size, dispatcher: agent }), size),
      );
      if (ctx.nginxUrl) {
        results.nginx!.push(
          await timed(() => uploadFile({ url: `${ctx.nginxUrl}/large-${i}.bin`, method: 'PUT', file, size, dispatcher: agent }), size),
        );
        await agent
          .request({ origin: new URL(ctx.nginxUrl).origin, path: `${new URL(ctx.nginxUrl).pathname}/large-${i}.bin`, method: 'DELETE' })
          .then((r) => r.body.dump());
      }
      ctx.log(
        `  ingest-large run ${i + 1}/${ctx.runs}: raw ${results.raw!.at(-1)!.toFixed(0)} MB/s, multipart ${results.multipart!.at(-1)!.toFixed(0)} MB/s, bare node ${results.node!.at(-1)!.toFixed(0)} MB/s${ctx.nginxUrl ? `, nginx ${results.nginx!.at(-1)!.toFixed(0)} MB/s` : ''}`,
      );
    }
    await Promise.all([agent.close(), coordinator.close()]);
    const node = summarize(results.node!);
    const nginx: Summary | null = results.nginx!.length ? summarize(results.nginx!) : null;
    const rows: FigureRow[] = [];
    rawLarge = { size, summary: summarize(results.raw!) };
    for (const kind of ['raw', 'multipart'] as const) {
      const fennec = summarize(results[kind]!);
      const extra = { size_mib: size / MiB };
      rows.push(
        row({
          figure: `ingest-large ${kind}`,
          unit: 'MiB/s',
          fennec,
          baselineName: 'bare Node',
          baseline: node,
          goal: '≥ 0.9×',
          minRatio: 0.9,
          extra,
        }),
      );
      rows.push(
        row({
          figure: `ingest-large ${kind}`,
          unit: 'MiB/s',
          fennec,
          baselineName: 'nginx dav',
          baseline: nginx,
          goal: '≥ 0.8×',
          minRatio: 0.8,
          extra: { ...extra, note: nginx ? 'nginx does not fsync' : 'nginx not installed' },
        }),
      );
    }
    return rows;
  },
};
