import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../shared/tokens.js';
import { coordinatorHarness, useRedisAndTmp } from '../../test/support/coordinator-harness.js';
import { surplusVictims } from './repair.js';

const env = useRedisAndTmp('surplus');
const copy = (pool_id: string, node_id: string, created_at: number) => ({ pool_id, node_id, created_at });

describe('the factor counts nodes, not rows', () => {
  it('surplusVictims keeps the primary, then one copy per node (oldest first), then the oldest rest', () => {
    const a = copy('n1-hot', 'n1', 1);
    const b = copy('n1-warm', 'n1', 2);
    const c = copy('n2-hot', 'n2', 3);
    // Two copies on n1 and a newer one on n2, factor 2: the duplicate on n1 goes, not n2's.
    expect(surplusVictims([a, b, c], 'n1-warm', 2)).toEqual([a]);
    expect(surplusVictims([a, b, c], 'n1-hot', 2)).toEqual([b]);
    // Without a primary among them: oldest per node.
    expect(surplusVictims([c, b, a], undefined, 2)).toEqual([b]);
    // Fewer nodes than the factor: the duplicate stays, a third copy on n1 goes.
    const d = copy('n1-cold', 'n1', 4);
    expect(surplusVictims([a, b, d], 'n1-hot', 2)).toEqual([d]);
    expect(surplusVictims([a, c], 'n1-hot', 2)).toEqual([]);
  });

  it('an object with both copies in two pools of one node is under-replicated', async () => {
    const { db, repos, appRow } = await coordinatorHarness({ redis: env.redis(), tmp: env.tmp(), nodes: ['n1', 'n2'] });
    const now = Date.now();
    db.prepare(
      `INSERT INTO pools (pool_id, node_id, tier, public_base_url, weight, accepting, replication_factor, created_at, updated_at)
       VALUES ('p1b', 'n1', 'warm', 'http://n1.test/p1b', 100, 1, 2, ?, ?)`,
    ).run(now, now);
    db.prepare("UPDATE pools SET replication_factor = 2 WHERE pool_id = 'p1'").run();
    const add = (pools: [string, string][]) => {
      const uuid = randomUUID();
      db.prepare(
        `INSERT INTO objects (image_uuid, app_id, user_id, session_id, pool_id, home_pool_id, node_id, rel_path, size, sha256, mime, visibility, state, status, created_at)
         VALUES (?, ?, 'u1', ?, 'p1', 'p1', 'n1', ?, 10, ?, 'image/jpeg', 'public', 'stored', 'ready', ?)`,
      ).run(uuid, appRow.app_id, randomUUID(), `original/2026/01/01/${uuid}.jpg`, sha256Hex(uuid), now);
      for (const [pool_id, node_id] of pools)
        repos.copies.insert({ image_uuid: uuid, pool_id, node_id, state: 'ok', size: 10, sha256: sha256Hex(uuid) }, now);
      return uuid;
    };
    const sameNode = add([
      ['p1', 'n1'],
      ['p1b', 'n1'],
    ]);
    const spread = add([
      ['p1', 'n1'],
      ['p2', 'n2'],
    ]);
    const short = repos.copies.underReplicated('', 10).map((r) => r.image_uuid);
    expect(short).toContain(sameNode);
    expect(short).not.toContain(spread);
    expect(repos.copies.underReplicatedCount()).toBe(1);
    db.close();
  });
});
