import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BACKUP_SCHEDULED, BACKUP_STORED } from '../shared/backup.js';
import { NODE_REPORTS } from '../shared/reports.js';
import { sha256Hex } from '../shared/tokens.js';
import { coordinatorHarness, useRedisAndTmp } from '../test/support/coordinator-harness.js';

const env = useRedisAndTmp('backups');

/** A coordinator with nodes n1, n2, n3 (pools p1, p2, p3), n4 registered but holding nothing, and an app. */
async function harness() {
  // The harness registers the durability gauges, as main.ts does.
  const {
    db,
    repos,
    req,
    signed,
    appRow: created,
  } = await coordinatorHarness({ redis: env.redis(), tmp: env.tmp(), nodes: ['n1', 'n2', 'n3', 'n4'] });

  /** An object whose primary is on p1/n1, with good copies on `copies` (pool ids). */
  const object = (size: number, copies: string[] = ['p1']) => {
    const image_uuid = randomUUID();
    const sha256 = sha256Hex(image_uuid);
    const now = Date.now();
    db.prepare(
      `INSERT INTO objects (image_uuid, app_id, user_id, session_id, pool_id, home_pool_id, node_id, rel_path, size, sha256, mime, visibility, state, status, created_at)
       VALUES (?, ?, 'u1', ?, 'p1', 'p1', 'n1', ?, ?, ?, 'image/jpeg', 'public', 'stored', 'ready', ?)`,
    ).run(image_uuid, created.app_id, randomUUID(), `original/2026/01/01/${image_uuid}.jpg`, size, sha256, now);
    for (const pool of copies)
      repos.copies.insert({ image_uuid, pool_id: pool, node_id: `n${pool.slice(1)}`, state: 'ok', size, sha256 }, now);
    return { image_uuid, sha256, size };
  };

  const stored = (o: { image_uuid: string; sha256: string; size: number }, node = 'n1') => ({
    image_uuid: o.image_uuid,
    node_id: node,
    pool_id: `p${node.slice(1)}`,
    bucket: 'fennec-backup',
    key: `b/2026/01/01/${o.image_uuid}.jpg`,
    size: o.size,
    sha256: o.sha256,
    at: '2026-01-01T12:00:00.000Z',
  });
  const scheduled = (o: { image_uuid: string }, due_at: string, node = 'n1') => ({
    image_uuid: o.image_uuid,
    node_id: node,
    pool_id: `p${node.slice(1)}`,
    due_at,
  });
  const durability = async (query = '') => {
    const res = await req('GET', `/api/v1/admin/durability${query}`);
    expect(res.status).toBe(200);
    return (await res.json()) as any;
  };
  return { db, repos, req, signed, object, stored, scheduled, durability, apiKey: created.api_key, close: () => db.close() };
}

describe('S3 backup reports', () => {
  it('records scheduled then stored, each idempotent; a stored backup is final', async () => {
    const h = await harness();
    const o = h.object(1000);
    const due = '2026-12-02T10:00:00.000Z';
    for (let i = 0; i < 2; i++) {
      const res = await h.signed('n1', NODE_REPORTS[BACKUP_SCHEDULED].path, BACKUP_SCHEDULED, h.scheduled(o, due));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true, state: 'scheduled', changed: i === 0 });
    }
    expect(h.repos.backups.get(o.image_uuid)).toMatchObject({ state: 'scheduled', due_at: Date.parse(due) });

    for (let i = 0; i < 2; i++) {
      const res = await h.signed('n1', NODE_REPORTS[BACKUP_STORED].path, BACKUP_STORED, h.stored(o));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true, state: 'stored', changed: i === 0 });
    }
    const row = h.repos.backups.get(o.image_uuid)!;
    expect(row).toMatchObject({
      state: 'stored',
      bucket: 'fennec-backup',
      object_key: `b/2026/01/01/${o.image_uuid}.jpg`,
      backed_up_at: Date.parse('2026-01-01T12:00:00.000Z'),
    });

    // A late schedule and a report of another location leave the stored backup as it was.
    const late = await h.signed('n1', NODE_REPORTS[BACKUP_SCHEDULED].path, BACKUP_SCHEDULED, h.scheduled(o, '2027-01-01T00:00:00.000Z'));
    expect(await late.json()).toEqual({ ok: true, state: 'stored', changed: false });
    const elsewhere = await h.signed('n1', NODE_REPORTS[BACKUP_STORED].path, BACKUP_STORED, { ...h.stored(o), bucket: 'other' });
    expect(await elsewhere.json()).toEqual({ ok: true, state: 'stored', changed: false });
    expect(h.repos.backups.get(o.image_uuid)).toEqual(row);

    // The app's view shows the state and times, never the bucket or key.
    const img = (await (await h.req('GET', `/api/v1/images/${o.image_uuid}`, undefined, h.apiKey)).json()) as any;
    expect(img.backup).toEqual({ state: 'stored', due_at: due, stored_at: '2026-01-01T12:00:00.000Z' });
    expect(JSON.stringify(img)).not.toContain('fennec-backup');
    const none = h.object(10);
    const img2 = (await (await h.req('GET', `/api/v1/images/${none.image_uuid}`, undefined, h.apiKey)).json()) as any;
    expect(img2.backup).toEqual({ state: 'none', due_at: null, stored_at: null });
    h.close();
  });

  it('refuses other bytes (422), unknown images (404), unknown or foreign nodes (401/403), bad bodies (400)', async () => {
    const h = await harness();
    const o = h.object(1000);
    const code = async (res: Response) => ({ status: res.status, error: ((await res.json()) as any).error });

    expect(
      await code(await h.signed('n1', NODE_REPORTS[BACKUP_STORED].path, BACKUP_STORED, { ...h.stored(o), sha256: 'f'.repeat(64) })),
    ).toEqual({ status: 422, error: 'checksum_mismatch' });
    expect(await code(await h.signed('n1', NODE_REPORTS[BACKUP_STORED].path, BACKUP_STORED, { ...h.stored(o), size: 999 }))).toEqual({
      status: 422,
      error: 'checksum_mismatch',
    });
    expect(
      await code(await h.signed('n1', NODE_REPORTS[BACKUP_STORED].path, BACKUP_STORED, { ...h.stored(o), image_uuid: randomUUID() })),
    ).toEqual({ status: 404, error: 'unknown_object' });
    expect(
      await code(
        await h.signed(
          'n1',
          NODE_REPORTS[BACKUP_SCHEDULED].path,
          BACKUP_SCHEDULED,
          h.scheduled({ image_uuid: randomUUID() }, '2026-12-02T10:00:00Z'),
        ),
      ),
    ).toEqual({ status: 404, error: 'unknown_object' });
    // Not registered: the signature cannot be checked.
    expect((await h.signed('n9', NODE_REPORTS[BACKUP_STORED].path, BACKUP_STORED, h.stored(o, 'n9'))).status).toBe(401);
    // Registered, but speaking for another node, or for an object it never held.
    expect(await code(await h.signed('n2', NODE_REPORTS[BACKUP_STORED].path, BACKUP_STORED, h.stored(o, 'n1')))).toEqual({
      status: 403,
      error: 'node_mismatch',
    });
    expect(await code(await h.signed('n4', NODE_REPORTS[BACKUP_STORED].path, BACKUP_STORED, h.stored(o, 'n4')))).toEqual({
      status: 403,
      error: 'not_a_holder',
    });
    expect(
      await code(await h.signed('n4', NODE_REPORTS[BACKUP_SCHEDULED].path, BACKUP_SCHEDULED, h.scheduled(o, '2026-12-02T10:00:00Z', 'n4'))),
    ).toEqual({ status: 403, error: 'not_a_holder' });
    expect(await code(await h.signed('n1', NODE_REPORTS[BACKUP_STORED].path, BACKUP_STORED, { ...h.stored(o), pool_id: 'p2' }))).toEqual({
      status: 409,
      error: 'pool_mismatch',
    });
    // Signed for the other kind.
    expect((await h.signed('n1', NODE_REPORTS[BACKUP_STORED].path, BACKUP_SCHEDULED, h.stored(o))).status).toBe(401);
    expect(await code(await h.signed('n1', NODE_REPORTS[BACKUP_SCHEDULED].path, BACKUP_SCHEDULED, h.scheduled(o, 'soon')))).toEqual({
      status: 400,
      error: 'invalid_body',
    });
    expect(await code(await h.signed('n1', NODE_REPORTS[BACKUP_STORED].path, BACKUP_STORED, { ...h.stored(o), sha256: 'xyz' }))).toEqual({
      status: 400,
      error: 'invalid_body',
    });
    expect(h.repos.backups.get(o.image_uuid)).toBeUndefined();

    // A replica's node may report too.
    const r = h.object(5, ['p1', 'p2']);
    expect((await h.signed('n2', NODE_REPORTS[BACKUP_STORED].path, BACKUP_STORED, h.stored(r, 'n2'))).status).toBe(200);
    h.close();
  });
});

describe('GET /api/v1/admin/durability', () => {
  it('groups objects by live copies and S3, before and after reports', async () => {
    const h = await harness();
    expect((await h.req('GET', '/api/v1/admin/durability', undefined, 'nope')).status).toBe(401);
    const empty = await h.durability();
    expect(empty).toMatchObject({ objects: 0, bytes: 0, classes: [], unscrubbed_copies: 0, oldest_scrub_at: null });

    const two = h.object(100, ['p1', 'p2']);
    const one = h.object(10, ['p1']);
    // n3 goes down: its copy stops counting, so this object has one live copy.
    const onDown = h.object(1, ['p1', 'p3']);
    h.db.prepare("UPDATE nodes SET state = 'down' WHERE node_id = 'n3'").run();

    const before = await h.durability();
    expect(before.objects).toBe(3);
    expect(before.bytes).toBe(111);
    expect(before.classes).toEqual([
      { protection: '2 copies, no backup', copies: 2, s3: false, cold: false, at_risk: false, lost: false, objects: 1, bytes: 100 },
      { protection: '1 copy, no backup', copies: 1, s3: false, cold: false, at_risk: true, lost: false, objects: 2, bytes: 11 },
    ]);
    // Live ok copies: two of `two`, one each of the others (n3's is on a down node).
    expect(before.unscrubbed_copies).toBe(4);

    expect((await h.signed('n1', NODE_REPORTS[BACKUP_STORED].path, BACKUP_STORED, h.stored(two))).status).toBe(200);
    const due1 = '2020-12-01T08:00:00.000Z'; // overdue: the node has not reported it stored
    const due2 = '2099-12-02T10:00:00.000Z';
    expect((await h.signed('n1', NODE_REPORTS[BACKUP_SCHEDULED].path, BACKUP_SCHEDULED, h.scheduled(one, due2))).status).toBe(200);
    expect((await h.signed('n1', NODE_REPORTS[BACKUP_SCHEDULED].path, BACKUP_SCHEDULED, h.scheduled(onDown, due1))).status).toBe(200);
    h.db
      .prepare("UPDATE copies SET last_scrub_at = ? WHERE image_uuid = ? AND pool_id = 'p1'")
      .run(Date.parse('2026-01-05T00:00:00Z'), two.image_uuid);

    const after = await h.durability();
    expect(after.classes).toEqual([
      { protection: '2 copies + S3', copies: 2, s3: true, cold: false, at_risk: false, lost: false, objects: 1, bytes: 100 },
      {
        protection: `1 copy, backup pending until ${due2}`,
        copies: 1,
        s3: 'pending',
        cold: false,
        at_risk: true,
        lost: false,
        objects: 2,
        bytes: 11,
        oldest_due_at: due1,
        latest_due_at: due2,
        overdue: 1,
      },
    ]);
    expect(after).toMatchObject({ unscrubbed_copies: 3, oldest_scrub_at: '2026-01-05T00:00:00.000Z' });

    // Every copy of `one` gone: nothing left but the pending backup.
    h.db.prepare("UPDATE nodes SET state = 'lost' WHERE node_id = 'n1'").run();
    const lost = await h.durability();
    expect(lost.classes.map((k: any) => [k.protection, k.objects, k.lost])).toEqual([
      ['1 copy + S3', 1, false],
      [`0 copies, backup pending until ${due2} (lost)`, 2, true],
    ]);
    expect((await h.durability('?pool_id=p2')).objects).toBe(0);
    expect((await h.durability('?pool_id=p1')).objects).toBe(3);

    const metrics = await (await h.req('GET', '/metrics')).text();
    expect(metrics).toMatch(/fennec_objects_by_protection\{copies="1",s3="yes"\} 1/);
    expect(metrics).toMatch(/fennec_objects_by_protection\{copies="0",s3="pending"\} 2/);
    expect(metrics).toMatch(/fennec_objects_by_protection\{copies="3\+",s3="no"\} 0/);
    h.close();
  });
});
