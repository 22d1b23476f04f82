import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { COORDINATOR_AUDIENCE } from '../shared/api.js';
import { RESTORE_LIST, restoreListPath, restorePageSchema } from '../shared/restore.js';
import { sha256Hex, signNodeRequest } from '../shared/tokens.js';
import { coordinatorHarness, useRedisAndTmp } from '../test/support/coordinator-harness.js';

const env = useRedisAndTmp('restore-list');

/** A coordinator with nodes n1, n2, n3 (pools p1, p2, p3) and an app. */
async function harness() {
  const {
    db,
    repos,
    app,
    keyOf,
    appRow: created,
  } = await coordinatorHarness({ redis: env.redis(), tmp: env.tmp(), nodes: ['n1', 'n2', 'n3'] });

  /** An object homed on `home` (primary there), with copies on `copies`, backed up when `backup` says so. */
  const object = (o: { home: string; copies?: string[]; backup?: 'stored' | 'scheduled' | 'none'; createdAt?: number; uuid?: string }) => {
    const image_uuid = o.uuid ?? randomUUID();
    const sha256 = sha256Hex(image_uuid);
    const now = o.createdAt ?? Date.now();
    const node = `n${o.home.slice(1)}`;
    const rel = `original/2026/01/01/${image_uuid}.jpg`;
    db.prepare(
      `INSERT INTO objects (image_uuid, app_id, user_id, session_id, pool_id, home_pool_id, node_id, rel_path, size, sha256, mime, visibility, state, status, created_at)
       VALUES (?, ?, 'u1', ?, ?, ?, ?, ?, 100, ?, 'image/jpeg', 'public', 'stored', 'ready', ?)`,
    ).run(image_uuid, created.app_id, randomUUID(), o.home, o.home, node, rel, sha256, now);
    for (const pool of [o.home, ...(o.copies ?? [])])
      repos.copies.insert({ image_uuid, pool_id: pool, node_id: `n${pool.slice(1)}`, state: 'ok', size: 100, sha256 }, now);
    const backup = o.backup ?? 'stored';
    if (backup !== 'none')
      db.prepare(
        `INSERT INTO backups (image_uuid, state, node_id, pool_id, due_at, bucket, object_key, backed_up_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        image_uuid,
        backup,
        node,
        o.home,
        backup === 'scheduled' ? now + 1000 : null,
        backup === 'stored' ? 'fennec-backup' : null,
        backup === 'stored' ? `b/2026/01/01/${image_uuid}.jpg` : null,
        backup === 'stored' ? now : null,
        now,
        now,
      );
    return { image_uuid, sha256, rel_path: rel, created_at: new Date(now).toISOString() };
  };

  /** A node-signed GET as `fennec-node restore` sends it (`signedFor` may differ from the URL asked). */
  const list = async (
    signer: string,
    poolId: string,
    params: Record<string, string> = {},
    opts: { signedFor?: string; purpose?: string } = {},
  ) => {
    const qs = new URLSearchParams(params).toString();
    const url = `${restoreListPath(poolId)}${qs ? `?${qs}` : ''}`;
    const token = await signNodeRequest(
      {
        nodeId: signer,
        audience: COORDINATOR_AUDIENCE,
        purpose: opts.purpose ?? RESTORE_LIST,
        sha256: sha256Hex(''),
        bind: { url: opts.signedFor ?? url },
      },
      keyOf(signer).privateKey,
    );
    return app.request(url, { headers: { authorization: `Bearer ${token}` } });
  };
  return { object, list, close: () => db.close() };
}

describe('GET /api/internal/pools/:pool_id/restore-list', () => {
  it('pages the stored backups of objects homed on the pool or with a copy there, by image_uuid', async () => {
    const h = await harness();
    const homed = [0, 1, 2].map(() => h.object({ home: 'p1' }));
    const copied = h.object({ home: 'p2', copies: ['p1'] });
    h.object({ home: 'p2' }); // another pool's
    h.object({ home: 'p1', backup: 'scheduled' }); // nothing in S3 yet
    h.object({ home: 'p1', backup: 'none' });
    const expected = [...homed, copied].sort((a, b) => a.image_uuid.localeCompare(b.image_uuid));

    const seen: string[] = [];
    let after: string | null = '';
    let pages = 0;
    while (after !== null) {
      const res = await h.list('n1', 'p1', { limit: '3', ...(after ? { after } : {}) });
      expect(res.status).toBe(200);
      const page = restorePageSchema.parse(await res.json());
      seen.push(...page.items.map((i) => i.image_uuid));
      after = page.next_after;
      pages++;
    }
    expect(pages).toBe(2);
    expect(seen).toEqual(expected.map((o) => o.image_uuid));

    const first = restorePageSchema.parse(await (await h.list('n1', 'p1')).json());
    expect(first.next_after).toBeNull();
    expect(first.items[0]).toEqual({
      image_uuid: expected[0]!.image_uuid,
      rel_path: expected[0]!.rel_path,
      size: 100,
      sha256: expected[0]!.sha256,
      mime: 'image/jpeg',
      user_id: 'u1',
      session_id: expect.any(String),
      created_at: expected[0]!.created_at,
      bucket: 'fennec-backup',
      key: `b/2026/01/01/${expected[0]!.image_uuid}.jpg`,
    });
    // The copy's node sees it too, for its own pool.
    const p2 = restorePageSchema.parse(await (await h.list('n2', 'p2')).json());
    expect(p2.items.map((i) => i.image_uuid)).toContain(copied.image_uuid);
    h.close();
  });

  it('filters on created_at with since', async () => {
    const h = await harness();
    const old = h.object({ home: 'p1', createdAt: Date.parse('2025-06-01T00:00:00Z') });
    const recent = h.object({ home: 'p1', createdAt: Date.parse('2026-06-01T00:00:00Z') });
    const page = restorePageSchema.parse(await (await h.list('n1', 'p1', { since: '2026-01-01T00:00:00Z' })).json());
    expect(page.items.map((i) => i.image_uuid)).toEqual([recent.image_uuid]);
    const all = restorePageSchema.parse(await (await h.list('n1', 'p1', { since: '2025-01-01' })).json());
    expect(all.items.map((i) => i.image_uuid).sort()).toEqual([old.image_uuid, recent.image_uuid].sort());
    h.close();
  });

  it('refuses another node (403), an unknown pool (404), bad tokens (401) and bad queries (400)', async () => {
    const h = await harness();
    h.object({ home: 'p1' });
    const code = async (res: Response) => ({ status: res.status, error: ((await res.json()) as { error: string }).error });
    expect(await code(await h.list('n2', 'p1'))).toEqual({ status: 403, error: 'not_pool_owner' });
    expect(await code(await h.list('n1', 'p9'))).toEqual({ status: 404, error: 'unknown_pool' });
    expect((await h.list('n9', 'p1')).status).toBe(401);
    expect((await h.list('n1', 'p1', {}, { purpose: 'backup.stored' })).status).toBe(401);
    // A token signed for one URL is good for no other (another pool, another page).
    expect(await code(await h.list('n1', 'p1', { after: randomUUID() }, { signedFor: restoreListPath('p1') }))).toEqual({
      status: 401,
      error: 'invalid_token',
    });
    expect((await h.list('n1', 'p1')).status).toBe(200);
    for (const params of [{ since: 'yesterday' }, { after: 'x' }, { limit: '0' }, { limit: '100000' }, { limit: 'ten' }] as Record<
      string,
      string
    >[])
      expect(await code(await h.list('n1', 'p1', params))).toEqual({ status: 400, error: 'invalid_query' });
    h.close();
  });
});
