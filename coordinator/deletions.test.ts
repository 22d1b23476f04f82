import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { BACKUP_DELETED, BACKUP_SCHEDULED, BACKUP_STORED } from '../shared/backup.js';
import type { NodeHeartbeat } from '../shared/heartbeat.js';
import type { BackupDeleteJob, JobData } from '../shared/jobs.js';
import { NODE_REPORTS } from '../shared/reports.js';

const COPY_STORED = 'copy.stored';

import { sha256Hex } from '../shared/tokens.js';
import { coordinatorHarness, useRedisAndTmp } from '../test/support/coordinator-harness.js';
import type { DurabilityDeps, TickContext } from './durability/context.js';
import { backupKeysOf, deleteExpiredBackups } from './durability/deletions.js';

const env = useRedisAndTmp('deletions');
const GRACE_MS = 60_000;

/** Nodes n1, n2 (pools p1, p2) and an app; objects with a primary on p1 and a replica on p2. */
async function harness() {
  const h = await coordinatorHarness({ redis: env.redis(), tmp: env.tmp(), nodes: ['n1', 'n2'] });
  const { db, repos } = h;
  const object = (size = 1000, appId = h.appRow.app_id) => {
    const image_uuid = randomUUID();
    const sha256 = sha256Hex(image_uuid);
    const now = Date.now();
    const variants = JSON.stringify([
      {
        name: 'small.webp',
        rel_path: `variants/2026/01/01/${image_uuid}_small.webp`,
        width: 200,
        height: 150,
        bytes: 10,
        mime: 'image/webp',
      },
    ]);
    db.prepare(
      `INSERT INTO objects (image_uuid, app_id, user_id, session_id, pool_id, home_pool_id, node_id, rel_path, size, sha256, mime, visibility, state, status, created_at, variants)
       VALUES (?, ?, 'u1', ?, 'p1', 'p1', 'n1', ?, ?, ?, 'image/jpeg', 'public', 'stored', 'ready', ?, ?)`,
    ).run(image_uuid, appId, randomUUID(), `original/2026/01/01/${image_uuid}.jpg`, size, sha256, now, variants);
    repos.users.addObject(appId, 'u1', size);
    for (const pool of ['p1', 'p2'])
      repos.copies.insert({ image_uuid, pool_id: pool, node_id: `n${pool.slice(1)}`, state: 'ok', size, sha256 }, now);
    return { image_uuid, sha256, size };
  };
  const stored = (o: { image_uuid: string; sha256: string; size: number }) => ({
    image_uuid: o.image_uuid,
    node_id: 'n1',
    pool_id: 'p1',
    bucket: 'fennec-backup',
    key: `b/2026/01/01/${o.image_uuid}.jpg`,
    size: o.size,
    sha256: o.sha256,
    at: new Date().toISOString(),
  });
  const del = (uuid: string, key = h.appRow.api_key) => h.req('DELETE', `/api/v1/images/${uuid}`, undefined, key);
  return { ...h, object, stored, del };
}

describe('image delete (coordinator)', () => {
  it('takes the image out of the index at once: 404 after, usage settled, copies to delete, a repeat is 204', async () => {
    const h = await harness();
    const a = h.object(1000);
    const b = h.object(500);
    expect((await h.signed('n1', NODE_REPORTS[BACKUP_STORED].path, BACKUP_STORED, h.stored(a))).status).toBe(200);
    const usageBefore = (await (await h.req('GET', '/api/v1/users/u1/usage', undefined, h.appRow.api_key)).json()) as any;

    const res = await h.del(a.image_uuid);
    expect(res.status).toBe(204);
    expect((await h.req('GET', `/api/v1/images/${a.image_uuid}`, undefined, h.appRow.api_key)).status).toBe(404);
    expect((await h.req('GET', `/i/${a.image_uuid}`, undefined, '')).status).toBe(404);
    expect((await h.del(a.image_uuid)).status).toBe(204);
    const usage = (await (await h.req('GET', '/api/v1/users/u1/usage', undefined, h.appRow.api_key)).json()) as any;
    expect(usage.used_bytes).toBe(usageBefore.used_bytes - 1000);
    expect(usage.objects).toBe(usageBefore.objects - 1);

    expect(h.repos.copies.ofImage(a.image_uuid).map((c) => c.state)).toEqual(['deleting', 'deleting']);
    expect(h.repos.copies.ofImage(b.image_uuid).map((c) => c.state)).toEqual(['ok', 'ok']);
    // The stored backup stays through the grace period; the tombstone keeps what the clean-up needs.
    expect(h.repos.backups.get(a.image_uuid)?.state).toBe('stored');
    expect(h.repos.deletions.get(a.image_uuid)).toMatchObject({
      app_id: h.appRow.app_id,
      size: 1000,
      sha256: a.sha256,
      backup_pending: 1,
      backup_deleted_at: null,
    });
    const summary = (await (await h.req('GET', '/api/v1/admin/durability')).json()) as any;
    expect(summary.objects).toBe(1);
    expect(summary.deleted).toMatchObject({
      images_with_copies: 1,
      copies_to_delete: 2,
      backups_in_grace: 1,
      backups_due: 0,
      backups_deleted: 0,
    });

    // Another app's key sees nothing to delete (404, no oracle) and changes nothing.
    const other = h.repos.apps.create('other', null);
    expect((await h.del(b.image_uuid, other.api_key)).status).toBe(404);
    expect((await h.del(randomUUID())).status).toBe(404);
    expect((await h.req('GET', `/api/v1/images/${b.image_uuid}`, undefined, h.appRow.api_key)).status).toBe(200);
    h.close();
  });

  it('an app with a webhook URL gets one image.deleted event, committed with the delete', async () => {
    const h = await harness();
    const hooked = h.repos.apps.create('hooked', 'http://127.0.0.1:9/hook');
    const a = h.object(1000, hooked.app_id);
    expect((await h.del(a.image_uuid, hooked.api_key)).status).toBe(204);
    expect((await h.del(a.image_uuid, hooked.api_key)).status).toBe(204);
    const rows = h.db.prepare("SELECT event_id, event, url, payload FROM webhook_outbox WHERE event = 'image.deleted'").all() as {
      event_id: string;
      url: string;
      payload: string;
    }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ event_id: `${a.image_uuid}.image.deleted`, url: 'http://127.0.0.1:9/hook' });
    expect(JSON.parse(rows[0]!.payload)).toMatchObject({
      type: 'image.deleted',
      data: { image_uuid: a.image_uuid, user_id: 'u1', size: 1000, sha256: a.sha256 },
    });
    // An app without a webhook URL queues nothing.
    const b = h.object(10);
    await h.del(b.image_uuid);
    expect(h.db.prepare('SELECT count(*) FROM webhook_outbox').pluck().get()).toBe(1);
    h.close();
  });

  it('late reports: a copy that lands after the delete is to be deleted, a late backup is recorded for its clean-up', async () => {
    const h = await harness();
    const a = h.object(1000);
    expect(
      (
        await h.signed('n1', NODE_REPORTS[BACKUP_SCHEDULED].path, BACKUP_SCHEDULED, {
          image_uuid: a.image_uuid,
          node_id: 'n1',
          pool_id: 'p1',
          due_at: new Date(Date.now() + 60_000).toISOString(),
        })
      ).status,
    ).toBe(200);
    expect((await h.del(a.image_uuid)).status).toBe(204);
    // The scheduled backup was cancelled with the image.
    expect(h.repos.backups.get(a.image_uuid)).toBeUndefined();
    h.repos.copies.remove(a.image_uuid, 'p2');

    const copy = await h.signed('n2', NODE_REPORTS[COPY_STORED].path, COPY_STORED, {
      image_uuid: a.image_uuid,
      node_id: 'n2',
      pool_id: 'p2',
      rel_path: `original/2026/01/01/${a.image_uuid}.jpg`,
      size: a.size,
      sha256: a.sha256,
      at: new Date().toISOString(),
    });
    expect(copy.status).toBe(200);
    expect(h.repos.copies.get(a.image_uuid, 'p2')?.state).toBe('deleting');

    const scheduled = await h.signed('n1', NODE_REPORTS[BACKUP_SCHEDULED].path, BACKUP_SCHEDULED, {
      image_uuid: a.image_uuid,
      node_id: 'n1',
      pool_id: 'p1',
      due_at: new Date().toISOString(),
    });
    expect(await scheduled.json()).toMatchObject({ state: 'none', changed: false });
    // Stored by a node whose copy is already gone: still recorded, so the grace clean-up deletes it.
    h.repos.copies.remove(a.image_uuid, 'p1');
    const late = await h.signed('n1', NODE_REPORTS[BACKUP_STORED].path, BACKUP_STORED, h.stored(a));
    expect(late.status).toBe(200);
    expect(h.repos.backups.get(a.image_uuid)?.state).toBe('stored');
    expect(h.repos.deletions.get(a.image_uuid)?.backup_pending).toBe(1);
    // Its variants job finished after the delete: the milestone is accepted and dropped, not retried forever.
    const ready = await h.signed('n1', '/api/internal/images/ready', NODE_REPORTS['image.ready'].purpose, {
      event: 'image.ready',
      image_uuid: a.image_uuid,
      node_id: 'n1',
      pool_id: 'p1',
      width: 10,
      height: 10,
      format: 'jpeg',
      variants: [],
      reason: null,
      at: new Date().toISOString(),
    });
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ok: true, duplicate: true });
    // An image never recorded is still "not yet" (its upload.complete may be on its way).
    const unknown = await h.signed('n1', '/api/internal/images/ready', NODE_REPORTS['image.ready'].purpose, {
      event: 'image.ready',
      image_uuid: randomUUID(),
      node_id: 'n1',
      pool_id: 'p1',
      width: 10,
      height: 10,
      format: 'jpeg',
      variants: [],
      reason: null,
      at: new Date().toISOString(),
    });
    expect(unknown.status).toBe(503);
    h.close();
  });

  it('after the grace period a node that can reach the bucket gets the backup_delete job; its report ends it', async () => {
    const h = await harness();
    const a = h.object(1000);
    await h.signed('n1', NODE_REPORTS[BACKUP_STORED].path, BACKUP_STORED, h.stored(a));
    await h.del(a.image_uuid);
    const deletedAt = h.repos.deletions.get(a.image_uuid)!.deleted_at;

    const added: { nodeId: string; data: BackupDeleteJob }[] = [];
    const deps = {
      repos: h.repos,
      heartbeats: { get: async () => new Map() },
      jobs: { ensure: async (nodeId: string, data: JobData) => (added.push({ nodeId, data: data as BackupDeleteJob }), 'added' as const) },
      logger: pino({ level: 'silent' }),
      settings: {
        heartbeatMaxAgeMs: 15_000,
        nodeDownGraceMs: 0,
        repairIntervalMs: 100,
        repairBatch: 10,
        moveBatch: 10,
        jobRetryMs: 1000,
        backupDeleteGraceMs: GRACE_MS,
      },
    } as unknown as DurabilityDeps;
    const ctxAt = (now: number, live: string[], backsUpTo: Record<string, string> = {}): TickContext => ({
      now,
      nodes: new Map(h.repos.nodes.list().map((n) => [n.node_id, n])),
      heartbeats: new Map(
        live.map((id) => [id, { ts: now, pools: [{ pool_id: `p${id.slice(1)}`, backup_bucket: backsUpTo[id] }] } as NodeHeartbeat]),
      ),
      drainingPools: new Set(),
      plannedBytes: new Map(),
      gaveUp: new Map(),
    });

    // Inside the grace: nothing.
    expect(await deleteExpiredBackups(deps, ctxAt(deletedAt + GRACE_MS - 1, ['n1', 'n2']))).toEqual({ ensured: 0, no_node: 0 });
    // The storing node is not heartbeating: no other pool has written to that bucket, so nobody can.
    expect(await deleteExpiredBackups(deps, ctxAt(deletedAt + GRACE_MS, ['n2']))).toEqual({ ensured: 0, no_node: 1 });
    // …unless a live node says in its heartbeat that one of its pools backs up to that bucket.
    expect(await deleteExpiredBackups(deps, ctxAt(deletedAt + GRACE_MS, ['n2'], { n2: 'fennec-backup' }))).toEqual({
      ensured: 1,
      no_node: 0,
    });
    expect(added.map((a) => [a.nodeId, a.data.pool_id])).toEqual([['n2', 'p2']]);
    added.length = 0;
    h.repos.deletions.backupEnsured(a.image_uuid, 0);
    expect(await deleteExpiredBackups(deps, ctxAt(deletedAt + GRACE_MS, ['n1', 'n2']))).toEqual({ ensured: 1, no_node: 0 });
    const key = `b/2026/01/01/${a.image_uuid}.jpg`;
    expect(added).toEqual([
      {
        nodeId: 'n1',
        data: {
          kind: 'backup_delete',
          image_uuid: a.image_uuid,
          pool_id: 'p1',
          backup: { bucket: 'fennec-backup', keys: [key, `b/2026/01/01/${a.image_uuid}_small.webp`] },
        },
      },
    ]);
    // Ensured: not again until jobRetryMs has passed.
    expect(await deleteExpiredBackups(deps, ctxAt(deletedAt + GRACE_MS + 10, ['n1']))).toEqual({ ensured: 0, no_node: 0 });

    const report = {
      image_uuid: a.image_uuid,
      node_id: 'n1',
      pool_id: 'p1',
      bucket: 'fennec-backup',
      keys: added[0]!.data.backup.keys,
      at: new Date().toISOString(),
    };
    expect((await h.signed('n1', NODE_REPORTS[BACKUP_DELETED].path, BACKUP_DELETED, { ...report, bucket: 'elsewhere' })).status).toBe(409);
    for (let i = 0; i < 2; i++) {
      const res = await h.signed('n1', NODE_REPORTS[BACKUP_DELETED].path, BACKUP_DELETED, report);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true, changed: i === 0 });
    }
    expect(h.repos.backups.get(a.image_uuid)).toBeUndefined();
    expect(h.repos.deletions.get(a.image_uuid)).toMatchObject({ backup_pending: 0, backup_deleted_at: expect.any(Number) });
    expect(await deleteExpiredBackups(deps, ctxAt(deletedAt + GRACE_MS + 5000, ['n1']))).toEqual({ ensured: 0, no_node: 0 });

    // A live image's backup is never deleted by this report.
    const b = h.object(10);
    await h.signed('n1', NODE_REPORTS[BACKUP_STORED].path, BACKUP_STORED, h.stored(b));
    const live = await h.signed('n1', NODE_REPORTS[BACKUP_DELETED].path, BACKUP_DELETED, {
      ...report,
      image_uuid: b.image_uuid,
      keys: [`b/2026/01/01/${b.image_uuid}.jpg`],
    });
    expect(live.status).toBe(409);
    expect(h.repos.backups.get(b.image_uuid)?.state).toBe('stored');
    h.close();
  });

  it('backupKeysOf: the original first, each variant beside it, private ones included', () => {
    const variants = JSON.stringify([
      { rel_path: 'private/variants/2026/02/03/u.avif' },
      { rel_path: 'private/variants/2026/02/03/u_small.webp' },
    ]);
    expect(backupKeysOf({ object_key: 'p/2026/02/03/u.jpg', variants })).toEqual([
      'p/2026/02/03/u.jpg',
      'p/2026/02/03/u.avif',
      'p/2026/02/03/u_small.webp',
    ]);
    expect(backupKeysOf({ object_key: 'u.jpg', variants: '[]' })).toEqual(['u.jpg']);
  });
});
