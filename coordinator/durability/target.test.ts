import { describe, expect, it } from 'vitest';
import type { NodeHeartbeat } from '../../shared/heartbeat.js';
import { chooseCopyTarget, type TargetInput, type TargetNode, type TargetPool } from './target.js';

const NOW = 1_700_000_000_000;

function hb(node_id: string, pools: Array<{ pool_id: string; free: number; writable?: boolean }>, ts = NOW - 1000): NodeHeartbeat {
  return {
    node_id,
    version: 't',
    upload_api_url: `http://${node_id}/api/internal/upload`,
    tus_url: `http://${node_id}/api/internal/tus`,
    ts,
    accepting: true,
    active_uploads: 0,
    queue_depth: 0,
    pools: pools.map((p) => ({
      pool_id: p.pool_id,
      tier: 'hot',
      total_bytes: 1e12,
      free_bytes: p.free,
      used_bytes: 0,
      // `accepting` is for uploads: a copy target may have it off.
      accepting: false,
      writable: p.writable ?? true,
      public_base_url: 'http://x',
    })),
  };
}

const pool = (pool_id: string, node_id: string, tier = 'hot'): TargetPool => ({ pool_id, node_id, tier, reserved_bytes: 0 });
const node = (node_id: string, region: string | null, state: TargetNode['state'] = 'up'): TargetNode => ({ node_id, region, state });

function input(over: Partial<TargetInput<TargetPool>> = {}): TargetInput<TargetPool> {
  return {
    pools: [pool('a1', 'a'), pool('b1', 'b'), pool('c1', 'c')],
    nodes: new Map([
      ['a', node('a', 'eu')],
      ['b', node('b', 'eu')],
      ['c', node('c', 'us')],
    ]),
    heartbeats: new Map([
      ['a', hb('a', [{ pool_id: 'a1', free: 9000 }])],
      ['b', hb('b', [{ pool_id: 'b1', free: 5000 }])],
      ['c', hb('c', [{ pool_id: 'c1', free: 1000 }])],
    ]),
    now: NOW,
    maxAgeMs: 15_000,
    size: 500,
    tier: 'hot',
    excludeNodes: new Set(['a']),
    avoidRegions: new Set(['eu']),
    drainingPools: new Set(),
    ...over,
  };
}

describe('chooseCopyTarget', () => {
  it('never picks a node that already holds a copy, even with the most room', () => {
    expect(chooseCopyTarget(input({ avoidRegions: new Set() }))?.pool.pool_id).toBe('b1');
    expect(chooseCopyTarget(input({ excludeNodes: new Set(['a', 'b', 'c']) }))).toBeUndefined();
  });

  it('prefers another region over more free space', () => {
    expect(chooseCopyTarget(input())?.pool.pool_id).toBe('c1');
  });

  it('then the same tier, then the most usable bytes', () => {
    const pools = [pool('b1', 'b', 'cold'), pool('b2', 'b'), pool('a1', 'a')];
    const heartbeats = new Map([
      [
        'b',
        hb('b', [
          { pool_id: 'b1', free: 9000 },
          { pool_id: 'b2', free: 800 },
        ]),
      ],
    ]);
    expect(chooseCopyTarget(input({ pools, heartbeats, avoidRegions: new Set() }))?.pool.pool_id).toBe('b2');
    const reserved = [{ ...pool('b1', 'b'), reserved_bytes: 8800 }, pool('b2', 'b')];
    expect(chooseCopyTarget(input({ pools: reserved, heartbeats, avoidRegions: new Set() }))?.pool.pool_id).toBe('b2');
  });

  it('needs room after reservations and planned copies', () => {
    expect(chooseCopyTarget(input({ size: 1001 }))?.pool.pool_id).toBe('b1');
    expect(chooseCopyTarget(input({ size: 1000, plannedBytes: (id) => (id === 'c1' ? 1 : 0) }))?.pool.pool_id).toBe('b1');
    expect(chooseCopyTarget(input({ size: 5001 }))).toBeUndefined();
  });

  it('never fills a pool being drained, nor a node out of service, stale or read-only', () => {
    expect(chooseCopyTarget(input({ drainingPools: new Set(['c1']) }))?.pool.pool_id).toBe('b1');
    for (const state of ['down', 'lost', 'draining', 'retired'] as const) {
      const nodes = new Map([
        ['b', node('b', 'eu', state)],
        ['c', node('c', 'us', state)],
      ]);
      expect(chooseCopyTarget(input({ nodes }))).toBeUndefined();
    }
    const stale = new Map([['c', hb('c', [{ pool_id: 'c1', free: 1000 }], NOW - 60_000)]]);
    expect(chooseCopyTarget(input({ heartbeats: stale }))).toBeUndefined();
    const readOnly = new Map([['c', hb('c', [{ pool_id: 'c1', free: 1000, writable: false }])]]);
    expect(chooseCopyTarget(input({ heartbeats: readOnly }))).toBeUndefined();
  });
});
