import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent } from 'undici';
import type { SessionResponse } from '../../../shared/api.js';
import type { Cluster } from '../../cluster/launcher.js';
import { startFigureCluster } from '../bench-cluster.js';
import { createSession, pool, uploadFile } from '../client.js';
import type { BenchContext, Figure, FigureRow } from '../figure.js';
import { row } from '../figure.js';
import { getImage, POLL_MS, sleep, until } from '../poll.js';
import { summarize } from '../stats.js';
import { makeInputFile } from './ingest-large.js';

const MiB = 1024 * 1024;

interface Copy {
  node_id: string;
  pool_id: string;
  state: string;
}

interface RunResult {
  direct: number;
  replication: number;
  /** PATCH → the second copy listed (pending): the coordinator's planning tick. */
  plannedMs: number | null;
  /** PATCH → the second copy ok. */
  copyMs: number;
}

/** A two-node cluster with no replication cap and a short repair tick. */
function startCluster(ctx: BenchContext, dataDir: string): Promise<Cluster> {
  return startFigureCluster(ctx.log, 'replication', {
    dataDir,
    nodes: 2,
    coordinatorEnv: { FENNEC_REPAIR_INTERVAL_MS: '200' },
    nodeEnv: { FENNEC_REPLICATION_BYTES_PER_SEC: '0' },
  });
}

/**
 * One measured run in a fresh two-node cluster: a direct upload to s01 (the baseline), then
 * s01-hot's replication factor 1 → 2 and the time until the image lists an ok copy on s02.
 *
 * A fresh cluster per run because the replication factor is per pool: once s01-hot keeps two
 * copies, a second upload there would be replicated as soon as it is reported (no PATCH left to
 * time from), and lowering the factor again would trim the earlier object's copy and copy it
 * anew beside the measured one.
 */
async function measureOnce(ctx: BenchContext, run: number, file: string, size: number, agent: Agent): Promise<RunResult> {
  const dataDir = path.join(ctx.workDir, `replication-cluster-${run}`);
  rmSync(dataDir, { recursive: true, force: true });
  let cluster: Cluster | undefined;
  let coordinator: ReturnType<typeof pool> | undefined;
  let ok = false;
  try {
    cluster = await startCluster(ctx, dataDir);
    const { info } = cluster;
    const [source, target] = info.nodes as [(typeof info.nodes)[0], (typeof info.nodes)[0]];
    const sourcePool = source.pools[0]!.pool_id;
    const targetPool = target.pools[0]!.pool_id;
    coordinator = pool(info.coordinator_url, 2);

    // The upload must land on s01: s02 takes no new uploads (a copy target ignores that flag).
    await cluster.admin('PATCH', `/api/v1/admin/pools/${targetPool}`, { accepting: false });
    const session = await until<SessionResponse>(
      async () => {
        try {
          return await createSession(coordinator!, info.app_key, { user_id: 'bench-replication', file_size: size });
        } catch (err) {
          if (/HTTP 503/.test((err as Error).message)) return undefined; // a heartbeat not seen yet
          throw err;
        }
      },
      15_000,
      'an upload session',
    );
    if (session.node_id !== source.node_id) throw new Error(`the session went to ${session.node_id}, not ${source.node_id}`);

    execFileSync('sync');
    const t0 = performance.now();
    const up = (await uploadFile({ url: session.upload_url, token: session.token, file, size, dispatcher: agent })) as {
      image_uuid: string;
    };
    const direct = size / MiB / ((performance.now() - t0) / 1000);
    const uuid = up.image_uuid;

    // Before the clock starts: the coordinator knows the object (the node's report came in) and
    // the source's variants job is over (random bytes fail at once), so the interval holds
    // nothing but replication.
    const status = () =>
      until(
        async () => {
          const img = await getImage(coordinator!, info.app_key, uuid);
          if (img.status === 404) return undefined;
          if (img.status !== 200) throw new Error(`GET image → ${img.status} ${JSON.stringify(img.body).slice(0, 200)}`);
          return img.body.status as string;
        },
        60_000,
        `the coordinator to record ${uuid}`,
      );
    const settled = performance.now() + 30_000;
    while ((await status()) === 'processing' && performance.now() < settled) await sleep(POLL_MS);
    if (performance.now() >= settled) ctx.log(`  replication run ${run}: ${uuid} still processing after 30 s; measuring anyway`);
    execFileSync('sync');

    const p0 = performance.now();
    await cluster.admin('PATCH', `/api/v1/admin/pools/${sourcePool}`, { replication_factor: 2 });
    let plannedMs: number | null = null;
    const copyMs = await until(
      async () => {
        const img = await getImage(coordinator!, info.app_key, uuid);
        if (img.status !== 200) throw new Error(`GET image → ${img.status} ${JSON.stringify(img.body).slice(0, 200)}`);
        const now = performance.now() - p0;
        const copy = ((img.body.copies ?? []) as Copy[]).find((c) => c.node_id === target.node_id && c.pool_id === targetPool);
        if (copy && plannedMs === null) plannedMs = now;
        return copy?.state === 'ok' ? now : undefined;
      },
      60_000 + (size / (8 * MiB)) * 1000,
      `an ok copy of ${uuid} on ${target.node_id}`,
    );
    ok = true;
    return { direct, replication: size / MiB / (copyMs / 1000), plannedMs, copyMs };
  } finally {
    await coordinator?.close();
    await cluster?.stop();
    // The data goes; on a failure the logs stay in the bench work dir (kept with --keep / --data).
    if (!ok) {
      try {
        cpSync(path.join(dataDir, 'logs'), path.join(ctx.workDir, `replication-logs-${run}`), { recursive: true });
        ctx.log(`  replication run ${run}: logs in ${path.join(ctx.workDir, `replication-logs-${run}`)}`);
      } catch {
        // no logs (the cluster did not start far enough)
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Node → node replication throughput for one large file beside the direct upload of the same
 * file in the same run: both are one streamed, hashed, fsynced write of the same bytes, so a
 * copy between nodes should move about as fast as the upload did.
 */
export const replication: Figure = {
  name: 'replication',
  async run(ctx: BenchContext): Promise<FigureRow[]> {
    const size = ctx.quick ? 64 * MiB : 1024 * MiB;
    const file = path.join(ctx.workDir, 'replication.bin');
    await makeInputFile(file, size);
    const agent = new Agent({ headersTimeout: 0, bodyTimeout: 0 });
    const results: RunResult[] = [];
    try {
      for (let i = 0; i < ctx.runs; i++) {
        const r = await measureOnce(ctx, i + 1, file, size, agent);
        results.push(r);
        ctx.log(
          `  replication run ${i + 1}/${ctx.runs}: direct upload ${r.direct.toFixed(0)} MiB/s, replication ${r.replication.toFixed(0)} MiB/s (PATCH → copy ok ${(r.copyMs / 1000).toFixed(2)} s, planned after ${r.plannedMs === null ? '?' : r.plannedMs.toFixed(0)} ms)`,
        );
      }
    } finally {
      await agent.close();
      rmSync(file, { force: true });
    }
    const planned = results.map((r) => r.plannedMs).filter((v): v is number => v !== null);
    return [
      row({
        figure: `replication ${size / MiB} MiB node → node`,
        unit: 'MiB/s',
        fennec: summarize(results.map((r) => r.replication)),
        baselineName: 'direct upload to the source node (same run)',
        baseline: summarize(results.map((r) => r.direct)),
        goal: '≥ 0.8×',
        minRatio: 0.8,
        extra: {
          size_mib: size / MiB,
          // The PATCH wakes the repair loop, so planning is the tick's own work, not a wait for
          // the next 200 ms tick (patch_to_planned_ms shows it; it includes the 50 ms poll).
          interval:
            'PATCH rf 1→2 → copy on s02 ok: repair tick plans it, job pick-up on s01, PUT (stream+hash, tmp fsync, rename, dir+DB fsync), copy.stored via the outbox',
          planned_after_ms_median: planned.length ? Math.round(summarize(planned).median) : null,
          per_run: results.map((r) => ({
            direct_mib_s: r.direct,
            replication_mib_s: r.replication,
            ratio: r.replication / r.direct,
            patch_to_ok_ms: Math.round(r.copyMs),
            patch_to_planned_ms: r.plannedMs === null ? null : Math.round(r.plannedMs),
          })),
        },
      }),
    ];
  },
};
