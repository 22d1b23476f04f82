import { describe, expect, it } from 'vitest';
import type { NodeHeartbeat, PoolHeartbeat } from '../shared/heartbeat.js';
import { COMPLETED_SLACK_MS, choosePool, type PlacementPool } from './placement.js';

const NOW = 1_700_000_000_000;

function hbPool(pool_id: string, free: number, extra: Partial<PoolHeartbeat> = {}): PoolHeartbeat {
  return {
    pool_id,
    tier: 'hot',
    total_bytes: 1e12,
    free_bytes: free,
    used_bytes: 0,
    accepting: true,
    writable: true,
    public_base_url: 'http://x',
    ...extra,
  };
}

function hb(node_id: string, pools: PoolHeartbeat[], extra: Partial<NodeHeartbeat> = {}): NodeHeartbeat {
  return {
    node_id,
    version: 't',
    upload_api_url: `http://${node_id}/api/internal/upload`,
    tus_url: `http://${node_id}/api/internal/tus`,
    ts: NOW - 1000,
    accepting: true,
    active_uploads: 0,
    queue_depth: 0,
    pools,
    ...extra,
  };
}

const pool = (pool_id: string, node_id: string, extra: Partial<PlacementPool> = {}): PlacementPool => ({
  pool_id,
  node_id,
  tier: 'hot',
  weight: 100,
  accepting: true,
  ...extra,
});

function pick(pools: PlacementPool[], hbs: NodeHeartbeat[], fileSize = 100, reserved: Record<string, number> = {}) {
  return choosePool({
    pools,
    heartbeats: new Map(hbs.map((h) => [h.node_id, h])),
    tier: 'hot',
    fileSize,
    now: NOW,
    maxAgeMs: 15_000,
    reservedBytes: (p) => reserved[p.pool_id] ?? 0,
  })?.pool.pool_id;
}

describe('choosePool', () => {
  it('prefers the highest weight, then the most usable bytes, then the pool id', () => {
    const hbs = [hb('n1', [hbPool('a', 1000), hbPool('b', 5000)]), hb('n2', [hbPool('c', 9000), hbPool('d', 9000)])];
    expect(pick([pool('a', 'n1', { weight: 200 }), pool('b', 'n1'), pool('c', 'n2')], hbs)).toBe('a');
    expect(pick([pool('a', 'n1'), pool('b', 'n1'), pool('c', 'n2')], hbs)).toBe('c');
    expect(pick([pool('d', 'n2'), pool('c', 'n2')], hbs)).toBe('c');
  });

  it('subtracts reservations from heartbeat free bytes', () => {
    const hbs = [hb('n1', [hbPool('a', 1000), hbPool('b', 800)])];
    expect(pick([pool('a', 'n1'), pool('b', 'n1')], hbs, 100, { a: 500 })).toBe('b');
    expect(pick([pool('a', 'n1'), pool('b', 'n1')], hbs, 900, { a: 200 })).toBeUndefined();
    expect(pick([pool('a', 'n1')], hbs, 1000)).toBe('a');
  });

  it('skips pools that are not accepting, of another tier, or unknown to the heartbeat', () => {
    const hbs = [hb('n1', [hbPool('a', 1000), hbPool('b', 1000, { writable: false }), hbPool('c', 1000, { accepting: false })])];
    expect(pick([pool('a', 'n1', { accepting: 0 })], hbs)).toBeUndefined();
    expect(pick([pool('a', 'n1', { tier: 'cold' })], hbs)).toBeUndefined();
    expect(pick([pool('b', 'n1'), pool('c', 'n1'), pool('z', 'n1')], hbs)).toBeUndefined();
  });

  it('skips nodes with an old, missing or non-accepting heartbeat', () => {
    expect(pick([pool('a', 'n1')], [hb('n1', [hbPool('a', 1000)], { ts: NOW - 16_000 })])).toBeUndefined();
    expect(pick([pool('a', 'n1')], [hb('n1', [hbPool('a', 1000)], { accepting: false })])).toBeUndefined();
    expect(pick([pool('a', 'n1')], [])).toBeUndefined();
  });

  it('asks for completions since the heartbeat minus the slack', () => {
    const seen: number[] = [];
    const h = hb('n1', [hbPool('a', 1000)]);
    choosePool({
      pools: [pool('a', 'n1')],
      heartbeats: new Map([['n1', h]]),
      tier: 'hot',
      fileSize: 1,
      now: NOW,
      maxAgeMs: 15_000,
      reservedBytes: (_p, since) => (seen.push(since), 0),
    });
    expect(seen).toEqual([h.ts - COMPLETED_SLACK_MS]);
  });
});
