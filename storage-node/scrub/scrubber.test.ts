import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger.js';
import { eventually } from '../../test/support/eventually.js';
import { type Db, openDb } from '../db/open.js';
import { PoolSet, preparePool } from '../pools.js';
import { runScrubPass, type ScrubPassOptions, type ScrubReport, startScrubber } from './scrubber.js';

let root: string;
let db: Db;
let pools: PoolSet;
let wakes: number;
let reports: ScrubReport[];

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'scrub-'));
  const pool = { id: 'p1', tier: 'hot' as const, path: path.join(root, 'p1'), public_base_url: 'http://127.0.0.1:1', max_bytes: null };
  preparePool(pool);
  pools = new PoolSet([pool]);
  db = openDb(path.join(root, 'node.db'));
  wakes = 0;
  reports = [];
});
afterEach(() => {
  db.close();
  rmSync(root, { recursive: true, force: true });
});

const logger = createLogger({ name: 'test', level: 'silent' });
const opts = (extra: Partial<ScrubPassOptions> = {}): ScrubPassOptions => ({
  db,
  pools,
  nodeId: 's01',
  logger,
  bytesPerSec: 0,
  wakeOutbox: () => wakes++,
  onReport: (m) => reports.push(m),
  ...extra,
});

/** Writes a real original and its row; returns its uuid and absolute path. */
function addObject(bytes: Buffer, poolId = 'p1'): { uuid: string; file: string } {
  const uuid = randomUUID();
  const rel = `original/2026/01/02/${uuid}.jpg`;
  const file = path.join(root, poolId, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, bytes);
  db.prepare(
    `INSERT INTO objects (uuid, session_id, user_id, pool_id, rel_path, size, sha256, mime, created_at)
     VALUES (?, 'sess', 'u', ?, ?, ?, ?, 'image/jpeg', ?)`,
  ).run(uuid, poolId, rel, bytes.length, createHash('sha256').update(bytes).digest('hex'), new Date().toISOString());
  return { uuid, file };
}

const outbox = () =>
  (db.prepare('SELECT kind, payload FROM outbox ORDER BY id').all() as { kind: string; payload: string }[]).map((r) => ({
    kind: r.kind,
    payload: JSON.parse(r.payload) as Record<string, unknown>,
  }));
const state = (uuid: string) =>
  db.prepare('SELECT scrub_state, last_scrub_at FROM objects WHERE uuid = ?').get(uuid) as {
    scrub_state: string | null;
    last_scrub_at: number | null;
  };

/**
 * A pass re-reads rows scrubbed before it started (`last_scrub_at < pass start`, so it never
 * re-reads its own): a pass right after another must start on a later millisecond.
 */
async function nextMillisecond(): Promise<void> {
  const t = Date.now();
  while (Date.now() <= t) await new Promise((r) => setTimeout(r, 1));
}

function flipByte(file: string): void {
  const buf = readFileSync(file);
  buf[Math.floor(buf.length / 2)]! ^= 0xff;
  writeFileSync(file, buf);
}

describe('scrub pass', () => {
  it('marks every good file ok and reports them in one copies.scrubbed row', async () => {
    const objs = [addObject(randomBytes(1000)), addObject(randomBytes(70_000)), addObject(Buffer.alloc(0))];
    const before = Date.now();
    const s = await runScrubPass(opts());
    expect(s).toMatchObject({ checked: 3, ok: 3, missing: 0, mismatch: 0, reported: 0, bytes: 71_000, aborted: false });
    for (const o of objs) {
      expect(state(o.uuid).scrub_state).toBe('ok');
      expect(state(o.uuid).last_scrub_at).toBeGreaterThanOrEqual(before);
    }
    const rows = outbox();
    expect(rows.map((r) => r.kind)).toEqual(['copies.scrubbed']);
    expect(rows[0]!.payload).toMatchObject({ node_id: 's01', pool_id: 'p1' });
    expect((rows[0]!.payload.image_uuids as string[]).sort()).toEqual(objs.map((o) => o.uuid).sort());
    expect(wakes).toBe(1);
    expect(reports.filter((r) => r.t === 'scrubbed')).toHaveLength(3);
    expect(reports.at(-1)).toMatchObject({ t: 'scrub-pass' });
  });

  it('writes one copies.scrubbed row per page, and skips rows of pools it does not have', async () => {
    for (let i = 0; i < 5; i++) addObject(randomBytes(10));
    addObject(randomBytes(10), 'elsewhere');
    const s = await runScrubPass(opts({ pageSize: 2 }));
    expect(s).toMatchObject({ checked: 5, ok: 5, skipped: 1 });
    expect(outbox().map((r) => (r.payload.image_uuids as string[]).length)).toEqual([2, 2, 1]);
  });

  it('reports a flipped byte and a deleted file once, and again after a repair goes bad again', async () => {
    const good = addObject(randomBytes(5000));
    const flipped = addObject(randomBytes(5000));
    const gone = addObject(randomBytes(5000));
    flipByte(flipped.file);
    unlinkSync(gone.file);
    const s = await runScrubPass(opts());
    expect(s).toMatchObject({ checked: 3, ok: 1, mismatch: 1, missing: 1, reported: 2 });
    expect(state(flipped.uuid).scrub_state).toBe('mismatch');
    expect(state(gone.uuid).scrub_state).toBe('missing');
    expect(state(gone.uuid).last_scrub_at).not.toBeNull();
    const corrupt = outbox().filter((r) => r.kind === 'copy.corrupt');
    expect(corrupt.map((r) => r.payload)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ image_uuid: flipped.uuid, node_id: 's01', pool_id: 'p1', reason: 'mismatch' }),
        expect.objectContaining({ image_uuid: gone.uuid, reason: 'missing' }),
      ]),
    );
    expect(readFileSync(flipped.file).length).toBe(5000); // scrub never touches files

    db.prepare('DELETE FROM outbox').run();
    await nextMillisecond();
    const again = await runScrubPass(opts());
    expect(again).toMatchObject({ ok: 1, mismatch: 1, missing: 1, reported: 0 });
    expect(outbox().map((r) => r.kind)).toEqual(['copies.scrubbed']);

    // A repair overwrites the file and resets the state; the copy then rots again.
    db.prepare('DELETE FROM outbox').run();
    db.prepare("UPDATE objects SET scrub_state = 'ok' WHERE uuid = ?").run(flipped.uuid);
    await nextMillisecond();
    const third = await runScrubPass(opts());
    expect(third.reported).toBe(1);
    expect(
      outbox()
        .filter((r) => r.kind === 'copy.corrupt')
        .map((r) => r.payload.image_uuid),
    ).toEqual([flipped.uuid]);
    expect(good.uuid).toBeTruthy();
  });

  it('re-reads the oldest-scrubbed first and stops at maxObjectsPerPass', async () => {
    const a = addObject(randomBytes(10));
    const b = addObject(randomBytes(10));
    const c = addObject(randomBytes(10));
    db.prepare('UPDATE objects SET last_scrub_at = ? WHERE uuid = ?').run(2000, a.uuid);
    db.prepare('UPDATE objects SET last_scrub_at = ? WHERE uuid = ?').run(1000, b.uuid);
    await runScrubPass(opts({ maxObjectsPerPass: 2 }));
    const scrubbed = outbox().flatMap((r) => r.payload.image_uuids as string[]);
    expect(scrubbed).toEqual([c.uuid, b.uuid]); // never scrubbed, then the oldest
    expect(state(a.uuid).last_scrub_at).toBe(2000);
  });

  it('keeps to bytesPerSec (2 MiB at 4 MiB/s takes at least ~0.4 s)', async () => {
    addObject(randomBytes(2 * 1024 * 1024));
    const t0 = performance.now();
    const s = await runScrubPass(opts({ bytesPerSec: 4 * 1024 * 1024 }));
    expect(s.ok).toBe(1);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(300);
  });

  it('lets a small file through a slow cap without sleeping (the bucket starts with a burst)', async () => {
    addObject(randomBytes(10_000));
    const t0 = performance.now();
    expect((await runScrubPass(opts({ bytesPerSec: 1000 }))).ok).toBe(1);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe('scrubber schedule', () => {
  it('stop() ends a running pass promptly and keeps what was verified', async () => {
    const first = addObject(randomBytes(1000));
    addObject(randomBytes(4 * 1024 * 1024));
    // One row per page: the small object's ok is committed before the 4 MiB one (16 s at this rate) is read.
    const scrubber = startScrubber({ ...opts({ bytesPerSec: 256 * 1024, pageSize: 1 }), cron: '0 0 1 1 *' });
    const pass = scrubber.runOnce();
    expect(scrubber.runOnce()).toBe(pass); // never two passes at once
    await eventually(() => state(first.uuid).scrub_state === 'ok', 5_000, 'the first object verified', 20);
    const t0 = performance.now();
    await scrubber.stop();
    await scrubber.stop();
    expect(performance.now() - t0).toBeLessThan(1000);
    const s = await pass;
    expect(s.aborted).toBe(true);
    expect(state(first.uuid).scrub_state).toBe('ok');
    expect(reports.some((r) => r.t === 'scrub-pass')).toBe(false);
    expect((await scrubber.runOnce()).aborted).toBe(true);
  });

  it("runs a pass from a cron expression with a seconds field ('* * * * * *')", async () => {
    const o = addObject(randomBytes(100));
    const scrubber = startScrubber({ ...opts(), cron: '* * * * * *' });
    try {
      const deadline = Date.now() + 2500;
      while (state(o.uuid).scrub_state !== 'ok' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(state(o.uuid).scrub_state).toBe('ok');
    } finally {
      await scrubber.stop();
    }
  });

  it('refuses an invalid cron expression', () => {
    expect(() => startScrubber({ ...opts(), cron: 'every night' })).toThrow(/invalid cron/);
  });
});
