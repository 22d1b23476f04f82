import { describe, expect, it } from 'vitest';
import type { NodeHeartbeat, PoolHeartbeat } from '../shared/heartbeat.js';
import { chooseCopyTarget, type TargetInput, type TargetPool } from './durability/target.js';
import { choosePool, type PlacementPool } from './placement.js';

const NOW = 1_700_000_000_000;

const hbPool = (pool_id: string, extra: Partial<PoolHeartbeat> = {}): PoolHeartbeat => ({
  pool_id,
  tier: 'cold',
  total_bytes: 2 ** 50,
  free_bytes: 2 ** 50,
  used_bytes: 0,
  accepting: true,
  writable: true,
  public_base_url: 'http://x',
  ...extra,
});
const hb = (node_id: string, pools: PoolHeartbeat[]): NodeHeartbeat => ({
  node_id,
  version: 't',
  upload_api_url: 'http://x',
  tus_url: 'http://x',
  ts: NOW - 500,
  accepting: true,
  active_uploads: 0,
  queue_depth: 0,
  pools,
});

describe('s3 pools in placement and copy targets', () => {
  it('an upload never goes to an s3 pool, whatever its row or heartbeat says', () => {
    const pick = (pools: PlacementPool[], hbs: NodeHeartbeat[]) =>
      choosePool({
        pools,
        heartbeats: new Map(hbs.map((h) => [h.node_id, h])),
        tier: 'cold',
        fileSize: 1,
        now: NOW,
        maxAgeMs: 5000,
        reservedBytes: () => 0,
      })?.pool.pool_id;
    const row = (pool_id: string, type?: string): PlacementPool => ({
      pool_id,
      node_id: 'n1',
      tier: 'cold',
      weight: 100,
      accepting: 1,
      type,
    });
    expect(pick([row('s3', 's3')], [hb('n1', [hbPool('s3')])])).toBeUndefined();
    expect(pick([row('s3')], [hb('n1', [hbPool('s3', { type: 's3' })])])).toBeUndefined();
    expect(pick([row('s3', 's3'), row('d')], [hb('n1', [hbPool('s3'), hbPool('d', { free_bytes: 10 })])])).toBe('d');
  });

  const pool = (pool_id: string, node_id: string, type?: string): TargetPool => ({
    pool_id,
    node_id,
    tier: 'cold',
    reserved_bytes: 0,
    type,
  });
  const input = (pools: TargetPool[], over: Partial<TargetInput<TargetPool>> = {}): TargetInput<TargetPool> => ({
    pools,
    nodes: new Map(['a', 'b'].map((id) => [id, { node_id: id, region: null, state: 'up' as const }])),
    heartbeats: new Map([
      ['a', hb('a', [hbPool('a-s3', { type: 's3', accepting: false }), hbPool('a-disk', { free_bytes: 1000 })])],
      ['b', hb('b', [hbPool('b-s3', { type: 's3', accepting: false }), hbPool('b-disk', { free_bytes: 1000 })])],
    ]),
    now: NOW,
    maxAgeMs: 5000,
    size: 100,
    tier: 'cold',
    excludeNodes: new Set(),
    avoidRegions: new Set(),
    drainingPools: new Set(),
    ...over,
  });

  it('a replica, repair or restore target is never an s3 pool', () => {
    const all = [pool('a-s3', 'a', 's3'), pool('b-s3', 'b', 's3'), pool('b-disk', 'b')];
    expect(chooseCopyTarget(input(all))?.pool.pool_id).toBe('b-disk');
    expect(chooseCopyTarget(input([pool('a-s3', 'a', 's3'), pool('b-s3', 'b', 's3')]))).toBeUndefined();
    // Also when only the heartbeat knows it is a bucket (a row registered without its type).
    expect(chooseCopyTarget(input([pool('a-s3', 'a')]))).toBeUndefined();
  });

  it("a tier move may pick an s3 pool, only the source node's", () => {
    const all = [pool('a-s3', 'a', 's3'), pool('b-s3', 'b', 's3')];
    expect(chooseCopyTarget(input(all, { s3OnNode: 'a' }))?.pool.pool_id).toBe('a-s3');
    expect(chooseCopyTarget(input([pool('b-s3', 'b', 's3')], { s3OnNode: 'a' }))).toBeUndefined();
  });
});
