import type { UploadComplete } from '../shared/api.js';
import { errors } from '../shared/errors.js';
import type { CopyStored } from '../shared/replication.js';
import type { Db } from './db.js';

/** One stored original, as this node's SQLite records it. */
export interface ObjectRow {
  uuid: string;
  session_id: string;
  user_id: string;
  pool_id: string;
  rel_path: string;
  size: number;
  sha256: string;
  mime: string;
  created_at: string;
}

/** An original received from a peer (storage-node/replication/receive.ts), with its processing state. */
export interface CopyRecord extends ObjectRow {
  status: 'processing' | 'ready' | 'failed';
  width: number | null;
  height: number | null;
  format: string | null;
  /**
   * JSON array of the variant files the sender already put here (a pool move), or null: the
   * variants are made here, so an existing row keeps its own state and a new one starts processing.
   */
  variants: string | null;
}

/** What recordCopy found and left. */
export interface CopyOutcome {
  /** No row for this uuid existed before. */
  created: boolean;
  /** The row's status before (undefined when created) and after the commit. */
  previousStatus: string | undefined;
  status: string;
}

/** A report that commits with a row change (kind = outbox kind, payload = its JSON body). */
export interface OutboxEntry {
  kind: string;
  payload: unknown;
}

export interface OutboxRow {
  id: number;
  kind: string;
  payload: string;
  attempts: number;
  next_attempt_at: number;
}

export const OUTBOX_UPLOAD_COMPLETE = 'upload.complete';

/** The node's SQLite state behind small, named operations (prepared once). */
export interface NodeStore {
  /** Claims a token id for one upload; false when it was already used. */
  claimToken(jti: string, exp: number): boolean;
  /** Gives a token back after a failed upload so the client can retry while it is valid. */
  releaseToken(jti: string): void;
  pruneTokens(nowSeconds: number): number;
  /** The object row and the job telling the coordinator about it commit together or not at all. */
  recordUpload(obj: ObjectRow, complete: UploadComplete, nowMs: number): number;
  getObject(uuid: string): ObjectRow | undefined;
  /**
   * Records an original received from a peer and its `copy.stored` report in one transaction:
   * a new row (origin `replica`, scrub state ok), or an existing row of the same object brought
   * back to ok (a repair). A row of this uuid with another sha256, path or pool is left alone
   * and answered with 409 `conflict`.
   */
  recordCopy(copy: CopyRecord, stored: CopyStored, nowMs?: number): CopyOutcome;
  /**
   * Deletes an object's row and, in the same transaction, inserts `outbox` when given (e.g. a
   * `copy.deleted` report). Returns the row deleted, undefined when there was none (nothing is
   * inserted then either). The pool's used-bytes figure follows.
   */
  deleteObject(uuid: string, outbox?: OutboxEntry, nowMs?: number): ObjectRow | undefined;
  countObjects(): number;
  usedBytes(poolId: string): number;
  /** The worker process removed or moved rows: used bytes are summed from SQLite again. */
  forgetUsage(): void;
  dueOutbox(nowMs: number, limit: number): OutboxRow[];
  nextOutboxAt(): number | undefined;
  outboxPending(): number;
  outboxDone(id: number): void;
  outboxRetry(id: number, nextAttemptAt: number, error: string): void;
  outboxDead(id: number, error: string): void;
  ping(): boolean;
}

export function createStore(db: Db): NodeStore {
  const claim = db.prepare('INSERT OR IGNORE INTO used_tokens (jti, exp) VALUES (?, ?)');
  const release = db.prepare('DELETE FROM used_tokens WHERE jti = ?');
  const prune = db.prepare('DELETE FROM used_tokens WHERE exp < ?');
  const insertObject = db.prepare(
    `INSERT INTO objects (uuid, session_id, user_id, pool_id, rel_path, size, sha256, mime, created_at)
     VALUES (@uuid, @session_id, @user_id, @pool_id, @rel_path, @size, @sha256, @mime, @created_at)`,
  );
  const insertOutbox = db.prepare(
    'INSERT INTO outbox (kind, payload, next_attempt_at, created_at) VALUES (?, ?, ?, ?)',
  );
  const getObject = db.prepare('SELECT * FROM objects WHERE uuid = ?');
  const countObjects = db.prepare('SELECT count(*) AS n FROM objects').pluck();
  const used = db.prepare('SELECT coalesce(sum(size), 0) FROM objects WHERE pool_id = ?').pluck();
  const due = db.prepare(
    'SELECT id, kind, payload, attempts, next_attempt_at FROM outbox WHERE dead = 0 AND next_attempt_at <= ? ORDER BY id LIMIT ?',
  );
  const nextAt = db.prepare('SELECT min(next_attempt_at) FROM outbox WHERE dead = 0').pluck();
  const pending = db.prepare('SELECT count(*) FROM outbox WHERE dead = 0').pluck();
  const done = db.prepare('DELETE FROM outbox WHERE id = ?');
  const retry = db.prepare(
    'UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?',
  );
  const dead = db.prepare('UPDATE outbox SET attempts = attempts + 1, dead = 1, last_error = ? WHERE id = ?');
  const ping = db.prepare('SELECT 1').pluck();
  const record = db.transaction((obj: ObjectRow, complete: UploadComplete, nowMs: number) => {
    insertObject.run(obj);
    return Number(insertOutbox.run(OUTBOX_UPLOAD_COMPLETE, JSON.stringify(complete), nowMs, nowMs).lastInsertRowid);
  });
  const insertCopy = db.prepare(
    `INSERT INTO objects (uuid, session_id, user_id, pool_id, rel_path, size, sha256, mime, created_at, status,
       width, height, format, variants, thumbnails_ready, origin, scrub_state, last_scrub_at, updated_at)
     VALUES (@uuid, @session_id, @user_id, @pool_id, @rel_path, @size, @sha256, @mime, @created_at, @status,
       @width, @height, @format, @variants, @thumbnails_ready, 'replica', 'ok', @now_ms, @now)`,
  );
  const repairCopy = db.prepare(
    "UPDATE objects SET scrub_state = 'ok', last_scrub_at = @now_ms, updated_at = @now WHERE uuid = @uuid",
  );
  const takeCopyState = db.prepare(
    `UPDATE objects SET status = @status, width = @width, height = @height, format = @format, variants = @variants,
       thumbnails_ready = @thumbnails_ready, failure_reason = NULL WHERE uuid = @uuid`,
  );
  const deleteRow = db.prepare('DELETE FROM objects WHERE uuid = ?');
  const copy = db.transaction((c: CopyRecord, stored: CopyStored, nowMs: number): CopyOutcome => {
    const prev = getObject.get(c.uuid) as (ObjectRow & { status: string }) | undefined;
    if (prev && (prev.sha256 !== c.sha256 || prev.size !== c.size || prev.rel_path !== c.rel_path || prev.pool_id !== c.pool_id))
      throw errors.conflict('conflict', `object ${c.uuid} is recorded here with other bytes or at another place`);
    const state = {
      uuid: c.uuid,
      status: c.variants === null ? 'processing' : c.status,
      width: c.width,
      height: c.height,
      format: c.format,
      variants: c.variants ?? '[]',
      thumbnails_ready: c.variants !== null && c.status === 'ready' ? 1 : 0,
    };
    const times = { uuid: c.uuid, now_ms: nowMs, now: new Date(nowMs).toISOString() };
    if (!prev) insertCopy.run({ ...c, ...state, ...times });
    else {
      repairCopy.run(times);
      // A list is the sender's finished state (a move brings the files); null keeps what this node made.
      if (c.variants !== null) takeCopyState.run(state);
    }
    insertOutbox.run('copy.stored', JSON.stringify(stored), nowMs, nowMs);
    return { created: !prev, previousStatus: prev?.status, status: prev && c.variants === null ? prev.status : state.status };
  });
  const remove = db.transaction((uuid: string, outbox: OutboxEntry | undefined, nowMs: number) => {
    const row = getObject.get(uuid) as ObjectRow | undefined;
    if (!row) return undefined;
    deleteRow.run(uuid);
    if (outbox) insertOutbox.run(outbox.kind, JSON.stringify(outbox.payload), nowMs, nowMs);
    return row;
  });

  // Bytes stored per pool, summed from SQLite once and then kept in step with every row
  // recorded: the upload path asks on every request, and a SUM over a million rows is not free.
  const usedByPool = new Map<string, number>();
  const usedBytes = (poolId: string): number => {
    let n = usedByPool.get(poolId);
    if (n === undefined) usedByPool.set(poolId, (n = used.get(poolId) as number));
    return n;
  };

  return {
    claimToken: (jti, exp) => claim.run(jti, exp).changes === 1,
    releaseToken: (jti) => void release.run(jti),
    pruneTokens: (now) => prune.run(now).changes,
    recordUpload: (obj, complete, nowMs) => {
      const before = usedBytes(obj.pool_id);
      const id = record(obj, complete, nowMs);
      usedByPool.set(obj.pool_id, before + obj.size);
      return id;
    },
    getObject: (uuid) => getObject.get(uuid) as ObjectRow | undefined,
    recordCopy: (c, stored, nowMs = Date.now()) => {
      const before = usedBytes(c.pool_id);
      const outcome = copy(c, stored, nowMs);
      if (outcome.created) usedByPool.set(c.pool_id, before + c.size);
      return outcome;
    },
    deleteObject: (uuid, outbox, nowMs = Date.now()) => {
      const row = remove(uuid, outbox, nowMs);
      // Only a pool whose figure is cached needs adjusting; an uncached one is summed fresh later.
      const n = row && usedByPool.get(row.pool_id);
      if (row && n !== undefined) usedByPool.set(row.pool_id, n - row.size);
      return row;
    },
    countObjects: () => countObjects.get() as number,
    usedBytes,
    forgetUsage: () => usedByPool.clear(),
    dueOutbox: (nowMs, limit) => due.all(nowMs, limit) as OutboxRow[],
    nextOutboxAt: () => (nextAt.get() as number | null) ?? undefined,
    outboxPending: () => pending.get() as number,
    outboxDone: (id) => void done.run(id),
    outboxRetry: (id, at, error) => void retry.run(at, error, id),
    outboxDead: (id, error) => void dead.run(error, id),
    ping: () => ping.get() === 1,
  };
}
