import { describe, expect, it } from 'vitest';
import { openDb } from '../db/open.js';
import { createStore } from '../db/store.js';
import { createImageState } from '../jobs/image-state.js';
import { KeyedLimit } from './job.js';
import { createBackupRecords } from './records.js';

const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e';
const dims = { width: 1200, height: 800, format: 'jpeg' };

function setup(delays: Record<string, number>) {
  const db = openDb(':memory:');
  const store = createStore(db);
  const scheduled: [string, number][] = [];
  const state = createImageState(
    db,
    's01',
    () => undefined,
    () => undefined,
    {
      delayMsFor: (poolId) => delays[poolId],
      onScheduled: (u, due) => scheduled.push([u, due]),
    },
  );
  const add = (id: string, pool = 'p1') => {
    const row = {
      uuid: id,
      session_id: 'sess',
      user_id: 'u',
      pool_id: pool,
      rel_path: `original/2026/01/02/${id}.jpg`,
      size: 10,
      sha256: 'a'.repeat(64),
      mime: 'image/jpeg',
      created_at: new Date().toISOString(),
    };
    store.recordUpload(row, { ...row, image_uuid: id, node_id: 's01' }, Date.now());
  };
  const kinds = () => store.dueOutbox(Date.now() + 1, 100).map((r) => ({ kind: r.kind, payload: JSON.parse(r.payload) }));
  return { db, state, add, kinds, scheduled, records: createBackupRecords(db, 's01') };
}

describe('backup records (none → pending → done)', () => {
  it('schedules with the milestone, reports a delay, and is done once with its backup.stored row', () => {
    const { state, add, kinds, scheduled, records } = setup({ p1: 60_000 });
    add(uuid);
    const before = Date.now();
    state.ready(uuid, dims, []);
    const row = records.get(uuid)!;
    expect(row.backup_state).toBe('pending');
    expect(row.backup_due_at).toBeGreaterThanOrEqual(before + 60_000);
    expect(scheduled).toEqual([[uuid, row.backup_due_at]]);
    expect(records.pending()).toEqual([{ uuid, due_at: row.backup_due_at }]);
    const sched = kinds().find((k) => k.kind === 'backup.scheduled')!;
    expect(sched.payload).toEqual({ image_uuid: uuid, node_id: 's01', pool_id: 'p1', due_at: new Date(row.backup_due_at!).toISOString() });
    // A repeated milestone schedules nothing again.
    state.ready(uuid, dims, []);
    expect(scheduled).toHaveLength(1);

    records.markFailed(uuid, 'connect ECONNREFUSED');
    expect(records.get(uuid)).toMatchObject({ backup_state: 'pending', backup_attempts: 1, backup_error: 'connect ECONNREFUSED' });
    expect(records.markDone(row, { bucket: 'b', key: 'k/2026/01/02/x.jpg', at: 'now' }, 123)).toBe(true);
    expect(records.markDone(row, { bucket: 'b', key: 'k/2026/01/02/x.jpg', at: 'now' }, 124)).toBe(false);
    expect(records.get(uuid)).toMatchObject({
      backup_state: 'done',
      backed_up_at: 123,
      backup_key: 'k/2026/01/02/x.jpg',
      backup_error: null,
    });
    expect(records.pending()).toEqual([]);
    const stored = kinds().filter((k) => k.kind === 'backup.stored');
    expect(stored).toHaveLength(1);
    expect(stored[0]!.payload).toMatchObject({
      image_uuid: uuid,
      bucket: 'b',
      key: 'k/2026/01/02/x.jpg',
      size: 10,
      sha256: 'a'.repeat(64),
    });
  });

  it('a failed image is backed up too, without a scheduled report when there is no delay', () => {
    const { state, add, kinds, records } = setup({ p1: 0 });
    add(uuid);
    state.failed(uuid, 'corrupt');
    expect(records.get(uuid)!.backup_state).toBe('pending');
    expect(kinds().some((k) => k.kind === 'backup.scheduled')).toBe(false);
  });

  it('pools without a target and replicas are not backed up', () => {
    const { db, state, add, records } = setup({ p1: 0 });
    const other = '1f8fad5b-d9cb-469f-a165-70867728950e';
    add(other, 'p2');
    state.ready(other, dims, []);
    expect(records.get(other)!.backup_state).toBe('none');
    add(uuid);
    db.prepare("UPDATE objects SET origin = 'replica' WHERE uuid = ?").run(uuid);
    state.ready(uuid, dims, []);
    expect(records.get(uuid)!.backup_state).toBe('none');
  });
});

describe('KeyedLimit', () => {
  it('runs at most n per key and passes slots on', async () => {
    const limit = new KeyedLimit();
    let running = 0;
    let peak = 0;
    const task = async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
    };
    await Promise.all(Array.from({ length: 10 }, () => limit.run('p1', 2, task)));
    expect(peak).toBe(2);
    await Promise.all(Array.from({ length: 3 }, () => limit.run('p1', 2, task)));
    expect(peak).toBe(2);
  });
});
