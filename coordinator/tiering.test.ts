import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { NodeHeartbeat } from '../shared/heartbeat.js';
import { sha256Hex } from '../shared/tokens.js';
import { coordinatorHarness, useRedisAndTmp } from '../test/support/coordinator-harness.js';
import { MIGRATIONS, migrate } from './db/migrations.js';
import type { DurabilityDeps, TickContext } from './durability/context.js';
import { planTiering } from './durability/tiering.js';

const env = useRedisAndTmp('tiering');

/** Nodes n1, n2, n3 with pools p1 (hot), p2 (warm), p3 (cold); objects on p1. */
async function harness() {
  const h = await coordinatorHarness({ redis: env.redis(), tmp: env.tmp(), nodes: ['n1', 'n2', 'n3'] });
  const { db, repos, appRow } = h;
  const object = (ageMs: number, now: number, pool = 'p1', status = 'ready') => {
    const image_uuid = randomUUID();
    db.prepare(
      `INSERT INTO objects (image_uuid, app_id, user_id, session_id, pool_id, home_pool_id, node_id, rel_path, size, sha256, mime, visibility, state, status, created_at)
       VALUES (?, ?, 'u1', ?, ?, ?, ?, ?, 100, ?, 'image/jpeg', 'public', 'stored', ?, ?)`,
    ).run(
      image_uuid,
      appRow.app_id,
      randomUUID(),
      pool,
      pool,
      `n${pool.slice(1)}`,
      `original/2026/01/01/${image_uuid}.jpg`,
      sha256Hex(image_uuid),
      status,
      now - ageMs,
    );
    repos.copies.insert(
      { image_uuid, pool_id: pool, node_id: `n${pool.slice(1)}`, state: 'ok', size: 100, sha256: sha256Hex(image_uuid) },
      now,
    );
    return image_uuid;
  };
  const hp = (pool_id: string, free: number) => ({
    pool_id,
    free_bytes: free,
    total_bytes: 2e9,
    used_bytes: 0,
    writable: true,
    accepting: true,
  });
  /** Every node live, its pool pN (and `extra` pools of n1) writable with `free` bytes. */
  const heartbeats = (now: number, free: number, extra: string[]) =>
    new Map<string, NodeHeartbeat>(
      ['n1', 'n2', 'n3'].map((id) => [
        id,
        {
          node_id: id,
          ts: now,
          pools: [hp(`p${id.slice(1)}`, free), ...(id === 'n1' ? extra.map((p) => hp(p, free)) : [])],
        } as unknown as NodeHeartbeat,
      ]),
    );
  const plan = (now: number, free = 1e9, extra: string[] = []) => {
    const ctx: TickContext = {
      now,
      nodes: new Map(repos.nodes.list().map((n) => [n.node_id, n])),
      heartbeats: heartbeats(now, free, extra),
      drainingPools: new Set(),
      plannedBytes: repos.copies.pendingBytes(),
      gaveUp: new Map(),
    };
    const deps = {
      repos,
      logger: h.deps.logger,
      settings: {
        heartbeatMaxAgeMs: 15_000,
        nodeDownGraceMs: 60_000,
        repairIntervalMs: 1000,
        repairBatch: 200,
        moveBatch: 20,
        jobRetryMs: 1000,
      },
    } as unknown as DurabilityDeps;
    return planTiering(deps, ctx);
  };
  expect((await h.req('PATCH', '/api/v1/admin/pools/p2', { tier: 'warm' })).status).toBe(200);
  expect((await h.req('PATCH', '/api/v1/admin/pools/p3', { tier: 'cold' })).status).toBe(200);
  return { ...h, object, plan };
}

describe('tiering policy (PATCH /api/v1/admin/pools/{id})', () => {
  it('validates the policy, stores it, shows it and clears it with null', async () => {
    const h = await harness();
    for (const bad of [
      { after_seconds: 0, to_tier: 'warm' },
      { after_seconds: 1.5, to_tier: 'warm' },
      { after_seconds: 10, to_tier: 'hot' },
      { after_seconds: 10 },
      { after_seconds: 10, to_tier: 'warm', extra: 1 },
      'soon',
    ]) {
      const res = await h.req('PATCH', '/api/v1/admin/pools/p1', { tiering: bad });
      expect(res.status, JSON.stringify(bad)).toBe(400);
    }
    // Into the pool's own tier: refused (it would shuttle objects between pools of that tier).
    expect((await h.req('PATCH', '/api/v1/admin/pools/p2', { tiering: { after_seconds: 5, to_tier: 'warm' } })).status).toBe(400);
    expect((await h.req('PATCH', '/api/v1/admin/pools/nope', { tiering: { after_seconds: 5, to_tier: 'warm' } })).status).toBe(404);

    const res = await h.req('PATCH', '/api/v1/admin/pools/p1', { tiering: { after_seconds: 2_592_000, to_tier: 'warm' } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).tiering).toEqual({ after_seconds: 2_592_000, to_tier: 'warm' });
    // Other settings leave the policy alone; the list shows it.
    await h.req('PATCH', '/api/v1/admin/pools/p1', { weight: 7 });
    const pools = ((await (await h.req('GET', '/api/v1/admin/pools')).json()) as any).pools as any[];
    expect(pools.find((p) => p.pool_id === 'p1')).toMatchObject({ weight: 7, tiering: { after_seconds: 2_592_000, to_tier: 'warm' } });
    expect(pools.find((p) => p.pool_id === 'p2').tiering).toBeNull();
    // The pool becoming warm itself conflicts with its warm policy.
    expect((await h.req('PATCH', '/api/v1/admin/pools/p1', { tier: 'warm' })).status).toBe(400);
    const cleared = await h.req('PATCH', '/api/v1/admin/pools/p1', { tiering: null });
    expect(((await cleared.json()) as any).tiering).toBeNull();
    h.close();
  });
});

describe('tiering planner', () => {
  it('moves only old, ready objects of a pool with a policy, one open tier move per pair', async () => {
    const h = await harness();
    const now = Date.now();
    const old1 = h.object(60_000, now);
    const old2 = h.object(30_000, now);
    h.object(1_000, now); // too young
    h.object(60_000, now, 'p1', 'processing'); // variants not made yet
    h.object(60_000, now, 'p2'); // a pool without a policy
    expect(h.plan(now)).toEqual({ moves: 0, objects: 0, no_target: 0 });

    await h.req('PATCH', '/api/v1/admin/pools/p1', { tiering: { after_seconds: 10, to_tier: 'warm' } });
    expect(h.plan(now)).toMatchObject({ moves: 1, objects: 2 });
    const [move] = h.repos.moves.active();
    expect(move).toMatchObject({ kind: 'tier', source_pool_id: 'p1', target_pool_id: 'p2', state: 'running' });
    expect(
      h.repos.moves
        .planned(move!.move_id, 10)
        .map((i) => i.image_uuid)
        .sort(),
    ).toEqual([old1, old2].sort());
    // The source keeps taking uploads and is no draining pool.
    expect(h.repos.pools.get('p1')!.accepting).toBe(1);

    // Objects in an open move are not planned again; a newly old one waits for the pair's move.
    h.object(20_000, now);
    expect(h.plan(now)).toMatchObject({ moves: 0 });
    expect(h.repos.moves.active()).toHaveLength(1);

    // Finishing leaves accepting alone (nothing to restore).
    h.repos.moves.transition(move!.move_id, ['running'], 'done', now);
    expect(h.repos.pools.get('p1')!.accepting).toBe(1);
    expect(h.plan(now)).toMatchObject({ moves: 1, objects: 3 });
    h.close();
  });

  it('goes to the same node when it has the only pool of that tier, and nowhere without room', async () => {
    const h = await harness();
    const now = Date.now();
    h.object(60_000, now);
    h.db
      .prepare(
        "INSERT INTO pools (pool_id, node_id, tier, public_base_url, weight, accepting, replication_factor, created_at, updated_at) VALUES ('p1c', 'n1', 'cold', 'http://n1.test', 100, 1, 1, 0, 0)",
      )
      .run();
    await h.req('PATCH', '/api/v1/admin/pools/p3', { tier: 'warm' });
    await h.req('PATCH', '/api/v1/admin/pools/p1', { tiering: { after_seconds: 10, to_tier: 'cold' } });
    // Not reported by n1's heartbeat, or without room: no target, nothing created.
    expect(h.plan(now)).toEqual({ moves: 0, objects: 0, no_target: 1 });
    expect(h.plan(now, 10, ['p1c'])).toEqual({ moves: 0, objects: 0, no_target: 1 });
    expect(h.repos.moves.active()).toEqual([]);
    // The only cold pool is on the object's own node: a local move.
    expect(h.plan(now, 1e9, ['p1c'])).toMatchObject({ moves: 1, objects: 1 });
    expect(h.repos.moves.active()[0]).toMatchObject({ kind: 'tier', source_pool_id: 'p1', target_pool_id: 'p1c' });
    h.close();
  });
});

describe('migration', () => {
  it('keeps existing moves and their items when moves is rebuilt for the tier kind', () => {
    const db = new Database(':memory:');
    db.pragma('foreign_keys = ON');
    for (let v = 0; v < MIGRATIONS.length - 1; v++) {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }
    db.prepare("INSERT INTO moves VALUES ('m1', 'a', 'b', 'done', 'move', 1, 1, 1, 1)").run();
    db.prepare("INSERT INTO move_items (move_id, image_uuid, state, bytes, updated_at) VALUES ('m1', 'u', 'done', 1, 1)").run();
    migrate(db);
    expect(db.prepare('SELECT move_id, kind FROM moves').all()).toEqual([{ move_id: 'm1', kind: 'move' }]);
    expect(db.prepare('SELECT count(*) AS n FROM move_items').get()).toEqual({ n: 1 });
    expect(db.pragma('foreign_key_check')).toEqual([]);
    db.prepare("INSERT INTO moves VALUES ('m2', 'a', 'b', 'running', 'tier', 1, 1, 1, NULL)").run();
    expect(() => db.prepare("INSERT INTO moves VALUES ('m3', 'a', 'b', 'running', 'other', 1, 1, 1, NULL)").run()).toThrow();
    db.close();
  });
});
