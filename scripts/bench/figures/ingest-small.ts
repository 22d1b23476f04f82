import { randomBytes } from 'node:crypto';
import { createSession, pool, uploadBuffer } from '../client.js';
import type { BenchContext, Figure, FigureRow } from '../figure.js';
import { row } from '../figure.js';
import { type LoadResult, runClosedLoop } from '../load.js';
import { clearOriginals } from '../pool-files.js';
import { latencies, summarize } from '../stats.js';

const CONCURRENCY = 32;
const JPEG_HEAD = Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex');

function body(size: number): Buffer {
  return Buffer.concat([JPEG_HEAD, randomBytes(size - JPEG_HEAD.length)]);
}

/** Durable small uploads at concurrency 32: Fennec's full client flow against the bare server. */
export const ingestSmall: Figure = {
  name: 'ingest-small',
  async run(ctx: BenchContext): Promise<FigureRow[]> {
    const { info } = ctx.cluster;
    const durationMs = ctx.quick ? 1500 : 20_000;
    const rows: FigureRow[] = [];
    for (const [label, size] of [
      ['100 KB', 100_000],
      ['1 MB', 1_000_000],
    ] as const) {
      const data = body(size);
      const coordinator = pool(info.coordinator_url, CONCURRENCY);
      const node = pool(info.nodes[0]!.url, CONCURRENCY);
      const bare = pool(ctx.bareNodeUrl, CONCURRENCY);
      const fennecRuns: LoadResult[] = [];
      const bareRuns: LoadResult[] = [];
      for (let i = 0; i < ctx.runs; i++) {
        fennecRuns.push(
          await runClosedLoop({
            concurrency: CONCURRENCY,
            durationMs,
            warmupMs: durationMs / 10,
            op: async (w) => {
              const s = await createSession(coordinator, info.app_key, { user_id: `bench-small-${w}`, file_size: size });
              await uploadBuffer(node, new URL(s.upload_url).pathname, data, s.token);
            },
          }),
        );
        await clearOriginals(ctx.cluster);
        bareRuns.push(
          await runClosedLoop({
            concurrency: CONCURRENCY,
            durationMs,
            warmupMs: durationMs / 10,
            op: () => uploadBuffer(bare, '/small', data),
          }),
        );
        const f = fennecRuns.at(-1)!;
        ctx.log(
          `  ingest-small ${label} run ${i + 1}/${ctx.runs}: fennec ${f.rate.toFixed(0)}/s (${f.failed} failed${f.errors[0] ? `: ${f.errors[0]}` : ''}), bare node ${bareRuns.at(-1)!.rate.toFixed(0)}/s`,
        );
      }
      await Promise.all([coordinator.close(), node.close(), bare.close()]);
      const fl = latencies(fennecRuns.flatMap((r) => r.latenciesMs));
      const bl = latencies(bareRuns.flatMap((r) => r.latenciesMs));
      rows.push(
        row({
          figure: `ingest-small ${label}`,
          unit: 'uploads/s',
          fennec: summarize(fennecRuns.map((r) => r.rate)),
          baselineName: 'bare Node',
          baseline: summarize(bareRuns.map((r) => r.rate)),
          goal: '≥ 0.7×',
          minRatio: 0.7,
          extra: {
            p50_ms: round(fl.p50),
            p99_ms: round(fl.p99),
            baseline_p50_ms: round(bl.p50),
            baseline_p99_ms: round(bl.p99),
            failed: fennecRuns.reduce((n, r) => n + r.failed, 0),
            duration_s: durationMs / 1000,
          },
        }),
      );
    }
    return rows;
  },
};

const round = (n: number) => Math.round(n * 10) / 10;
