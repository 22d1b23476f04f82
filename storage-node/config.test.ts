import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../shared/config.js';
import { initConfigSchema, nodeConfigSchema } from './config.js';
import { DEFAULT_RECIPE } from './variants/recipe.js';

const pools = JSON.stringify([{ id: 'p1', tier: 'hot', path: '/srv/p1', public_base_url: 'http://127.0.0.1:8081' }]);
const base = {
  FENNEC_NODE_ID: 'n1',
  FENNEC_POOLS: pools,
  FENNEC_STATE_DIR: '/var/lib/fennec',
  FENNEC_NODE_KEY_FILE: '/etc/fennec/node.pem',
  FENNEC_COORDINATOR_URL: 'http://coord:8080/',
};
const problems = (env: Record<string, string | undefined>) => {
  try {
    parseConfig(nodeConfigSchema, env);
    return [];
  } catch (err) {
    return (err as ConfigError).problems;
  }
};

describe('node config', () => {
  it('applies the contract defaults', () => {
    const cfg = parseConfig(nodeConfigSchema, base);
    expect(cfg).toMatchObject({
      listenHost: '127.0.0.1',
      listenPort: 8081,
      publicUrl: undefined,
      coordinatorUrl: 'http://coord:8080',
      jwksUrl: 'http://coord:8080/.well-known/jwks.json',
      tokenIssuer: 'fennec-coordinator',
      redisPrefix: 'fennec:',
      heartbeatIntervalMs: 5000,
      idleTimeoutMs: 60000,
      clockSkewSeconds: 30,
      uploadRateIpPerMin: 600,
      outboxMaxBackoffMs: 30000,
      shutdownGraceMs: 2000,
    });
    expect(cfg.pools[0]).toEqual({
      id: 'p1',
      tier: 'hot',
      path: '/srv/p1',
      public_base_url: 'http://127.0.0.1:8081',
      max_bytes: null,
      variants: DEFAULT_RECIPE,
    });
    expect(cfg.jobs).toMatchObject({ concurrency: 1, maxPixels: 100_000_000, attempts: 5, lockMs: 30_000 });
    expect(cfg.jobs.variantParallel).toBeGreaterThanOrEqual(1);
  });

  it('takes a variant recipe per pool and refuses a bad one', () => {
    const entry = { id: 'p1', tier: 'hot', path: '/srv/p1', public_base_url: 'http://x' };
    const cfg = parseConfig(nodeConfigSchema, {
      ...base,
      FENNEC_POOLS: JSON.stringify([{ ...entry, variants: { full_formats: ['webp'], avif: { effort: 4 } } }]),
    });
    expect(cfg.pools[0]!.variants).toMatchObject({ full_formats: ['webp'], avif: { effort: 4, quality: 45 }, webp: { quality: 85 } });
    const p = problems({ ...base, FENNEC_POOLS: JSON.stringify([{ ...entry, variants: { webp: { quality: 500 } } }]) });
    expect(p.join()).toMatch(/FENNEC_POOLS/);
  });

  it('lists every bad value at once', () => {
    const p = problems({ FENNEC_POOLS: 'not json', FENNEC_NODE_ID: 'Bad_Id', FENNEC_LISTEN_PORT: '70000' });
    expect(p.some((s) => s.startsWith('FENNEC_POOLS'))).toBe(true);
    expect(p.some((s) => s.startsWith('FENNEC_NODE_ID'))).toBe(true);
    expect(p.some((s) => s.startsWith('FENNEC_LISTEN_PORT'))).toBe(true);
    expect(p.some((s) => s.startsWith('FENNEC_STATE_DIR'))).toBe(true);
    expect(p.some((s) => s.startsWith('FENNEC_COORDINATOR_URL'))).toBe(true);
  });

  it('rejects relative pool paths, duplicate ids and unknown tiers', () => {
    const bad = (p: unknown[]) => problems({ ...base, FENNEC_POOLS: JSON.stringify(p) });
    const ok = { id: 'p1', tier: 'hot', path: '/srv/p1', public_base_url: 'http://x' };
    expect(bad([{ ...ok, path: 'rel/p1' }]).join()).toMatch(/absolute/);
    expect(bad([ok, { ...ok, path: '/srv/p2' }]).join()).toMatch(/duplicate pool id/);
    expect(bad([{ ...ok, tier: 'lukewarm' }])).not.toEqual([]);
    expect(bad([])).not.toEqual([]);
  });

  it('init needs only the node id, key file and pools', () => {
    const cfg = parseConfig(initConfigSchema, { FENNEC_NODE_ID: 'n1', FENNEC_NODE_KEY_FILE: '/k.pem', FENNEC_POOLS: pools });
    expect(cfg.pools).toHaveLength(1);
  });
});
