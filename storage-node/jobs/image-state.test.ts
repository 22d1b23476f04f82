import { describe, expect, it } from 'vitest';
import { openDb } from '../db/open.js';
import { createStore } from '../db/store.js';
import { createImageState } from './image-state.js';
import { jobId, priorityOf } from './kinds.js';
import { nextVariantJob } from './variants-job.js';

const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e';

function setup() {
  const db = openDb(':memory:');
  const store = createStore(db);
  let wakes = 0;
  const state = createImageState(db, 's01', () => wakes++);
  const row = {
    uuid,
    session_id: 'sess',
    user_id: 'u',
    pool_id: 'p1',
    rel_path: `original/2026/01/02/${uuid}.jpg`,
    size: 10,
    sha256: 'a'.repeat(64),
    mime: 'image/jpeg',
    created_at: new Date().toISOString(),
  };
  store.recordUpload(row, { ...row, image_uuid: uuid, node_id: 's01' }, Date.now());
  const outbox = () => store.dueOutbox(Date.now() + 1, 100).map((r) => ({ kind: r.kind, payload: JSON.parse(r.payload) }));
  return { state, outbox, wakes: () => wakes };
}

const file = {
  name: 'small.webp',
  rel_path: `variants/2026/01/02/${uuid}_small.webp`,
  width: 200,
  height: 133,
  bytes: 99,
  mime: 'image/webp',
};
const dims = { width: 1200, height: 800, format: 'jpeg' };

describe('image state (SQLite is the truth the queue is rebuilt from)', () => {
  it('moves processing → thumbnails → ready, each step with its outbox row, and never back', () => {
    const { state, outbox, wakes } = setup();
    expect(state.pending().map(nextVariantJob)).toEqual([{ kind: 'variants', image_uuid: uuid, phase: 'thumbnails' }]);
    state.thumbnailsReady(uuid, dims, [file]);
    expect(state.pending().map(nextVariantJob)).toEqual([{ kind: 'variants', image_uuid: uuid, phase: 'full' }]);
    state.ready(uuid, dims, [file]);
    expect(state.pending()).toEqual([]);
    state.failed(uuid, 'late failure of a duplicate run'); // ignored: ready is final
    expect(state.get(uuid)).toMatchObject({ status: 'ready', thumbnails_ready: 1 });
    const events = outbox().filter((r) => r.kind.startsWith('image.'));
    expect(events.map((e) => e.kind)).toEqual(['image.thumbnails_ready', 'image.ready']);
    expect(events[1]!.payload).toMatchObject({
      event: 'image.ready',
      image_uuid: uuid,
      node_id: 's01',
      pool_id: 'p1',
      width: 1200,
      height: 800,
      format: 'jpeg',
      variants: [file],
      reason: null,
    });
    expect(wakes()).toBe(2);
    expect(state.counts()).toEqual({ ready: 1 });
  });

  it('records a failure with its reason', () => {
    const { state, outbox } = setup();
    state.failed(uuid, 'image is 50000×50000');
    expect(state.get(uuid)).toMatchObject({ status: 'failed' });
    expect(outbox().at(-1)).toMatchObject({ kind: 'image.failed', payload: { reason: 'image is 50000×50000', width: null } });
    expect(state.pending()).toEqual([]);
  });

  it('job ids are deterministic and free of ":"; thumbnails run before full size', () => {
    const t = { kind: 'variants' as const, image_uuid: uuid, phase: 'thumbnails' as const };
    const f = { ...t, phase: 'full' as const };
    expect(jobId(t)).toBe(`${uuid}-variants`);
    expect(jobId(f)).toBe(`${uuid}-variants-full`);
    expect(jobId(t)).not.toContain(':');
    expect(priorityOf(t)).toBeLessThan(priorityOf(f));
  });
});
