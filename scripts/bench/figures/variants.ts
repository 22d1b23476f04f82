import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createSession, pool, uploadFile } from '../client.js';
import type { BenchContext, Figure, FigureRow } from '../figure.js';
import { row } from '../figure.js';
import { makePhoto } from '../photos.js';
import { latencies, summarize } from '../stats.js';
import { DEFAULT_SET, naiveVariants, psnr } from '../variants-baseline.js';

interface ImageState {
  status: string;
  thumbnails_ready: boolean;
  urls: { variants: Record<string, string> };
  variants: { name: string; bytes: number }[];
}

async function getImage(ctx: BenchContext, uuid: string): Promise<ImageState | undefined> {
  const res = await fetch(`${ctx.cluster.info.coordinator_url}/api/v1/images/${uuid}`, {
    headers: { authorization: `Bearer ${ctx.cluster.info.app_key}` },
  });
  return res.status === 200 ? ((await res.json()) as ImageState) : undefined;
}

async function waitFor(ctx: BenchContext, uuid: string, done: (i: ImageState) => boolean, timeoutMs = 600_000): Promise<ImageState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const img = await getImage(ctx, uuid);
    if (img && done(img)) return img;
    if (img?.status === 'failed') throw new Error(`image ${uuid} failed`);
    if (Date.now() > deadline) throw new Error(`image ${uuid} not done in time`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Earlier figures upload fake JPEGs whose jobs fail fast; wait until the node's queue is idle. */
async function queueIdle(ctx: BenchContext): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const q = (await ctx.cluster.admin('GET', '/api/v1/admin/queues')) as { queues: { counts: Record<string, number> | null }[] };
    const c = q.queues[0]?.counts;
    if (c && (c.waiting ?? 0) + (c.active ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0) === 0) return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function upload(ctx: BenchContext, file: string): Promise<{ uuid: string; at: number }> {
  const coordinator = pool(ctx.cluster.info.coordinator_url, 1);
  const size = statSync(file).size;
  let s: Awaited<ReturnType<typeof createSession>> | undefined;
  // A machine busy with the baseline can let a heartbeat lapse (503 no_capacity): wait and retry.
  for (let i = 0; !s; i++) {
    try {
      s = await createSession(coordinator, ctx.cluster.info.app_key, { user_id: 'bench-variants', file_size: size });
    } catch (err) {
      if (i >= 20 || !/503/.test((err as Error).message)) throw err;
      await ctx.cluster.waitForHeartbeats();
    }
  }
  await coordinator.close();
  const body = await uploadFile({ url: s.upload_url, token: s.token, file, size });
  return { uuid: body.image_uuid as string, at: Date.now() };
}

/**
 * The default variant set per photo: Fennec's node (upload → ready, queue and all) against the
 * naive in-process baseline (sharp defaults, a fresh decode per variant, sequential). Reports
 * photos per minute, total bytes, PSNR per variant and time from 201 to thumbnails_ready.
 */
export const variants: Figure = {
  name: 'variants',
  async run(ctx) {
    const count = ctx.quick ? 1 : 3;
    const [w, h] = ctx.quick ? [1600, 1200] : [4000, 3000];
    const dir = path.join(ctx.workDir, 'variants-photos');
    mkdirSync(dir, { recursive: true });
    const files: string[] = [];
    for (let i = 0; i < count; i++) {
      const file = path.join(dir, `photo-${i}.jpg`);
      writeFileSync(file, await makePhoto({ width: w, height: h, seed: i + 1, orientation: 1, gps: true }));
      files.push(file);
    }
    ctx.log(`  ${count} photo(s) of ${w}×${h} (${((w * h) / 1e6).toFixed(1)} MP)`);

    // Naive baseline, in this process, one photo after the other.
    const t0 = Date.now();
    const baseline: Map<string, Buffer>[] = [];
    for (const f of files) baseline.push(await naiveVariants(f));
    const baselineMs = Date.now() - t0;
    ctx.log(`  naive baseline: ${(baselineMs / 1000).toFixed(1)} s`);

    // Fennec, one photo at a time on an idle node: time from 201 to thumbnails_ready, and to ready.
    await queueIdle(ctx);
    const thumbMs: number[] = [];
    const images: ImageState[] = [];
    let fennecMs = 0;
    for (const f of files) {
      const { uuid, at } = await upload(ctx, f);
      await waitFor(ctx, uuid, (i) => i.thumbnails_ready);
      thumbMs.push(Date.now() - at);
      images.push(await waitFor(ctx, uuid, (i) => i.status === 'ready'));
      fennecMs += Date.now() - at;
    }
    ctx.log(`  fennec: ${(fennecMs / 1000).toFixed(1)} s, thumbnails p50 ${latencies(thumbMs).p50} ms`);

    let fennecBytes = 0;
    let baselineBytes = 0;
    const perVariant: Record<string, { fennec_psnr: number; baseline_psnr: number; fennec_bytes: number; baseline_bytes: number }> = {};
    for (let i = 0; i < files.length; i++) {
      for (const v of DEFAULT_SET) {
        const ours = Buffer.from(await (await fetch(images[i]!.urls.variants[v.name]!)).arrayBuffer());
        const theirs = baseline[i]!.get(v.name)!;
        fennecBytes += ours.length;
        baselineBytes += theirs.length;
        const p = (perVariant[v.name] ??= { fennec_psnr: 0, baseline_psnr: 0, fennec_bytes: 0, baseline_bytes: 0 });
        p.fennec_psnr += (await psnr(files[i]!, ours)) / files.length;
        p.baseline_psnr += (await psnr(files[i]!, theirs)) / files.length;
        p.fennec_bytes += ours.length;
        p.baseline_bytes += theirs.length;
      }
    }
    const [worstName, worst] = Object.entries(perVariant).sort(
      (a, b) => a[1].fennec_psnr - a[1].baseline_psnr - (b[1].fennec_psnr - b[1].baseline_psnr),
    )[0]!;
    const worstDelta = worst.fennec_psnr - worst.baseline_psnr;
    const round = (x: number) => Math.round(x * 100) / 100;
    const table = Object.fromEntries(
      Object.entries(perVariant).map(([k, p]) => [
        k,
        {
          fennec_db: round(p.fennec_psnr),
          baseline_db: round(p.baseline_psnr),
          fennec_bytes: p.fennec_bytes,
          baseline_bytes: p.baseline_bytes,
        },
      ]),
    );
    const perMin = (ms: number) => (count * 60_000) / ms;
    const source = readFileSync(files[0]!).length;
    const rows: FigureRow[] = [
      row({
        figure: 'variants',
        unit: 'photos/min',
        fennec: summarize([perMin(fennecMs)]),
        baselineName: 'naive sharp (defaults, decode per variant, sequential)',
        baseline: summarize([perMin(baselineMs)]),
        goal: '≥ 6× baseline',
        minRatio: 6,
        extra: { megapixels: (w * h) / 1e6, photos: count, source_bytes: source },
      }),
      row({
        figure: 'variants-bytes',
        unit: 'bytes (all variants)',
        fennec: summarize([fennecBytes]),
        baselineName: 'naive sharp',
        baseline: summarize([baselineBytes]),
        goal: '≤ 1.15× baseline',
        check: (r) => (r.ratio ?? Infinity) <= 1.15,
      }),
      row({
        figure: 'variants-psnr',
        unit: `dB PSNR of the worst variant (${worstName})`,
        fennec: summarize([round(worst.fennec_psnr)]),
        baselineName: 'naive sharp, same variant',
        baseline: summarize([round(worst.baseline_psnr)]),
        goal: '≥ baseline − 0.5 dB for every variant',
        check: () => worstDelta >= -0.5,
        extra: { worst_delta_db: round(worstDelta), per_variant: table },
      }),
      row({
        figure: 'variants-thumbnails',
        unit: 'ms 201 → thumbnails_ready p50',
        fennec: summarize([latencies(thumbMs).p50]),
        baselineName: null,
        baseline: null,
        goal: '≤ 1500 ms p50 (12 MP, idle node)',
        check: (r) => r.fennec.median <= 1500,
        extra: { runs_ms: thumbMs },
      }),
    ];
    for (const [k, v] of Object.entries(table))
      ctx.log(`  ${k.padEnd(12)} fennec ${v.fennec_db} dB ${v.fennec_bytes} B   baseline ${v.baseline_db} dB ${v.baseline_bytes} B`);
    return rows;
  },
};
