import type { CopiesScrubbed, CopyCorrupt } from '../../shared/replication.js';
import { nodeObjects } from '../db/objects.js';
import type { Db } from '../db/open.js';
import { outboxTable } from '../db/outbox.js';

export type ScrubState = 'ok' | 'missing' | 'mismatch';

/** One object as a pass sees it when its page is read. */
export interface ScrubRow {
  rid: number;
  uuid: string;
  pool_id: string;
  rel_path: string;
  size: number;
  sha256: string;
  scrub_state: ScrubState | null;
  last_scrub_at: number | null;
}

/** Where the next page starts: never-scrubbed rows by rowid, then scrubbed ones oldest first. */
type Cursor = { phase: 'never'; rid: number } | { phase: 'dated'; at: number; rid: number };

/**
 * `'reported'`: the state changed to bad and a copy.corrupt row was committed with it.
 * `'unchanged'`: still as bad as last time (state and time updated, nothing reported).
 * `'stale'`: the row changed or vanished since its page was read; nothing written.
 */
export type BadResult = 'reported' | 'unchanged' | 'stale';

/** The scrub's SQL, prepared once per database. */
export interface ScrubRecords {
  /**
   * Every object, oldest-scrubbed first (never-scrubbed first of all), a page at a time.
   * Rows scrubbed at or after `passStartMs` are this pass's own work and are not returned again.
   */
  pages(passStartMs: number, pageSize: number): Generator<ScrubRow[]>;
  /** Marks verified rows ok and commits one copies.scrubbed row per pool; returns the outbox rows written. */
  markOk(rows: ScrubRow[], nowMs: number): number;
  markBad(row: ScrubRow, state: Exclude<ScrubState, 'ok'>, nowMs: number): BadResult;
}

const COLUMNS = 'rowid AS rid, uuid, pool_id, rel_path, size, sha256, scrub_state, last_scrub_at';
const MAX_UUIDS = 1000; // copiesScrubbedSchema

export function createScrubRecords(db: Db, nodeId: string): ScrubRecords {
  const never = db.prepare(`SELECT ${COLUMNS} FROM objects WHERE last_scrub_at IS NULL AND rowid > ? ORDER BY rowid LIMIT ?`);
  const dated = db.prepare(
    `SELECT ${COLUMNS} FROM objects WHERE last_scrub_at < @before AND (last_scrub_at, rowid) > (@at, @rid)
     ORDER BY last_scrub_at, rowid LIMIT @limit`,
  );
  const current = db.prepare('SELECT size, sha256, scrub_state FROM objects WHERE uuid = ?');
  // Writes go through the tables' owners; the reads above are the scrub's own views.
  const objects = nodeObjects(db);
  const outbox = outboxTable(db);

  const markOk = db.transaction((rows: ScrubRow[], nowMs: number) => {
    const byPool = new Map<string, string[]>();
    for (const r of rows) {
      // A row deleted or rewritten while its file was read is not vouched for.
      if (!objects.scrubOk(r.uuid, r.size, r.sha256, nowMs)) continue;
      const list = byPool.get(r.pool_id) ?? [];
      list.push(r.uuid);
      byPool.set(r.pool_id, list);
    }
    let written = 0;
    const at = new Date(nowMs).toISOString();
    for (const [pool_id, uuids] of byPool)
      for (let i = 0; i < uuids.length; i += MAX_UUIDS) {
        const payload: CopiesScrubbed = { node_id: nodeId, pool_id, image_uuids: uuids.slice(i, i + MAX_UUIDS), at };
        outbox.add('copies.scrubbed', payload, nowMs);
        written++;
      }
    return written;
  });

  const markBad = db.transaction((row: ScrubRow, state: Exclude<ScrubState, 'ok'>, nowMs: number): BadResult => {
    const now = current.get(row.uuid) as Pick<ScrubRow, 'size' | 'sha256' | 'scrub_state'> | undefined;
    // A repair between the page read and here (new record, or state reset to ok) wins.
    if (!now || now.size !== row.size || now.sha256 !== row.sha256 || now.scrub_state !== row.scrub_state) return 'stale';
    objects.scrubState(row.uuid, state, nowMs);
    if (now.scrub_state === state) return 'unchanged';
    const payload: CopyCorrupt = {
      image_uuid: row.uuid,
      node_id: nodeId,
      pool_id: row.pool_id,
      reason: state,
      at: new Date(nowMs).toISOString(),
    };
    outbox.add('copy.corrupt', payload, nowMs);
    return 'reported';
  });

  function* pages(passStartMs: number, pageSize: number): Generator<ScrubRow[]> {
    let cursor: Cursor = { phase: 'never', rid: 0 };
    for (;;) {
      const rows = (
        cursor.phase === 'never'
          ? never.all(cursor.rid, pageSize)
          : dated.all({ before: passStartMs, at: cursor.at, rid: cursor.rid, limit: pageSize })
      ) as ScrubRow[];
      const last = rows.at(-1);
      if (last) {
        cursor = cursor.phase === 'never' ? { phase: 'never', rid: last.rid } : { phase: 'dated', at: last.last_scrub_at!, rid: last.rid };
        yield rows;
      }
      if (rows.length < pageSize) {
        if (cursor.phase === 'dated') return;
        cursor = { phase: 'dated', at: -1, rid: 0 };
      }
    }
  }

  return { pages, markOk, markBad };
}
