import type { UploadComplete } from '../shared/api.js';
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
  countObjects(): number;
  usedBytes(poolId: string): number;
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
    countObjects: () => countObjects.get() as number,
    usedBytes,
    dueOutbox: (nowMs, limit) => due.all(nowMs, limit) as OutboxRow[],
    nextOutboxAt: () => (nextAt.get() as number | null) ?? undefined,
    outboxPending: () => pending.get() as number,
    outboxDone: (id) => void done.run(id),
    outboxRetry: (id, at, error) => void retry.run(at, error, id),
    outboxDead: (id, error) => void dead.run(error, id),
    ping: () => ping.get() === 1,
  };
}
