import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { encodeHeartbeat } from '../../../shared/heartbeat.js';
import { redisKeys } from '../../../shared/redis-keys.js';
import { signUploadToken } from '../../../shared/tokens.js';
import { createSession, pool } from '../client.js';
import type { BenchContext, Figure, FigureRow } from '../figure.js';
import { row } from '../figure.js';
import { type LoadResult, runClosedLoop } from '../load.js';
import { latencies, type Summary, summarize } from '../stats.js';

const CONCURRENCY = 64;
const SIMULATED_NODES = 500;

/** The baseline: how fast one process can mint the same EdDSA token in a tight loop. */
async function mintLoop(durationMs: number): Promise<number> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const end = performance.now() + durationMs;
  const t0 = performance.now();
  let n = 0;
  while (performance.now() < end) {
    await signUploadToken(
      { iss: 'fennec-coordinator', aud: 's01', sub: `u${n}`, pool: 's01-hot', sid: randomUUID(), max: 1024, ttlSeconds: 900 },
      privateKey,
      'k1',
    );
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

async function sessionLoad(ctx: BenchContext, durationMs: number): Promise<LoadResult> {
  const coordinator = pool(ctx.cluster.info.coordinator_url, CONCURRENCY);
  try {
    return await runClosedLoop({
      concurrency: CONCURRENCY,
      durationMs,
      warmupMs: durationMs / 10,
      op: async (_w, seq) => {
        await createSession(coordinator, ctx.cluster.info.app_key, { user_id: `bench-sess-${seq % 1000}`, file_size: 1024 });
      },
    });
  } finally {
    await coordinator.close();
  }
}

/** Measured by `sessions`, compared against by `sessions-500-nodes` in the same run. */
let realNodesOnly: { summary: Summary; load: LoadResult[] } | undefined;

async function measure(ctx: BenchContext, label: string): Promise<{ summary: Summary; load: LoadResult[] }> {
  const durationMs = ctx.quick ? 1500 : 10_000;
  const load: LoadResult[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    load.push(await sessionLoad(ctx, durationMs));
    const r = load.at(-1)!;
    ctx.log(
      `  ${label} run ${i + 1}/${ctx.runs}: ${r.rate.toFixed(0)} sessions/s (${r.failed} failed${r.errors[0] ? `: ${r.errors[0]}` : ''})`,
    );
  }
  return { summary: summarize(load.map((r) => r.rate)), load };
}

function latencyExtra(load: LoadResult[]) {
  const l = latencies(load.flatMap((r) => r.latenciesMs));
  return { p50_ms: Math.round(l.p50 * 10) / 10, p99_ms: Math.round(l.p99 * 10) / 10, failed: load.reduce((n, r) => n + r.failed, 0) };
}

export const sessions: Figure = {
  name: 'sessions',
  async run(ctx) {
    const mint: number[] = [];
    for (let i = 0; i < ctx.runs; i++) mint.push(await mintLoop(ctx.quick ? 500 : 2000));
    realNodesOnly = await measure(ctx, 'sessions');
    const extra = latencyExtra(realNodesOnly.load);
    return [
      row({
        figure: 'sessions',
        unit: 'sessions/s',
        fennec: realNodesOnly.summary,
        baselineName: 'mint loop',
        baseline: summarize(mint),
        goal: '≥ 5000/s, ≥ 0.5×, p99 < 20 ms',
        extra,
        check: (r) => r.fennec.median >= 5000 && (r.ratio ?? 0) >= 0.5 && extra.p99_ms < 20,
      }),
    ];
  },
};

/**
 * 500 simulated nodes, each registered with a pool and heartbeating into Redis from here, so
 * placement has 501 candidates to choose from on every session.
 */
export const sessionsManyNodes: Figure = {
  name: 'sessions-500-nodes',
  async run(ctx): Promise<FigureRow[]> {
    const base = realNodesOnly ?? (await measure(ctx, 'sessions (real nodes)'));
    const { publicKey } = generateKeyPairSync('ed25519');
    const x = String(publicKey.export({ format: 'jwk' }).x);
    const ids = Array.from({ length: SIMULATED_NODES }, (_, i) => `sim${String(i).padStart(3, '0')}`);
    for (const id of ids) {
      await ctx.cluster.admin('POST', '/api/v1/admin/nodes', {
        node_id: id,
        public_key: { kty: 'OKP', crv: 'Ed25519', x },
        upload_api_url: `http://127.0.0.1:9/${id}/api/internal/upload`,
        pools: [{ pool_id: `${id}-hot`, tier: 'hot', public_base_url: `http://127.0.0.1:9/${id}` }],
      });
    }
    const redis = new Redis(ctx.cluster.info.redis_url);
    const keys = redisKeys();
    const beat = async () => {
      const multi = redis.multi();
      for (const id of ids) {
        const hb = encodeHeartbeat({
          node_id: id,
          version: 'sim',
          upload_api_url: `http://127.0.0.1:9/${id}/api/internal/upload`,
          tus_url: `http://127.0.0.1:9/${id}/api/internal/tus`,
          ts: Date.now(),
          accepting: true,
          active_uploads: 0,
          queue_depth: 0,
          pools: [
            {
              pool_id: `${id}-hot`,
              tier: 'hot',
              total_bytes: 1e12,
              free_bytes: 5e11,
              used_bytes: 5e11,
              accepting: true,
              writable: true,
              public_base_url: `http://127.0.0.1:9/${id}`,
            },
          ],
        });
        multi.hset(keys.node(id), hb).pexpire(keys.node(id), 6000).sadd(keys.nodesIndex(), id);
      }
      await multi.exec();
    };
    await beat();
    const timer = setInterval(() => void beat().catch(() => undefined), 2000);
    try {
      const many = await measure(ctx, 'sessions-500-nodes');
      return [
        row({
          figure: 'sessions-500-nodes',
          unit: 'sessions/s',
          fennec: many.summary,
          baselineName: 'sessions (1 real node)',
          baseline: base.summary,
          goal: '≥ 0.8×',
          minRatio: 0.8,
          extra: latencyExtra(many.load),
        }),
      ];
    } finally {
      clearInterval(timer);
      // Let the simulated heartbeats expire and keep their pools out of later figures.
      const multi = redis.multi();
      for (const id of ids) multi.del(keys.node(id)).srem(keys.nodesIndex(), id);
      await multi.exec();
      for (const id of ids) await ctx.cluster.admin('PATCH', `/api/v1/admin/pools/${id}-hot`, { accepting: false }).catch(() => undefined);
      redis.disconnect();
    }
  },
};
