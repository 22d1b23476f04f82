import type { Db } from './open.js';

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

/**
 * Reports for the coordinator waiting to be delivered (`outbox`): the only code that writes the
 * table. `add` runs inside the caller's transaction, so a report commits with the change it tells of.
 */
export interface OutboxTable {
  /** Queues `payload` (serialised here) due at once; returns the row id. */
  add(kind: string, payload: unknown, nowMs: number): number;
  due(nowMs: number, limit: number): OutboxRow[];
  nextAt(): number | undefined;
  pending(): number;
  done(id: number): void;
  retry(id: number, nextAttemptAt: number, error: string): void;
  dead(id: number, error: string): void;
}

export function outboxTable(db: Db): OutboxTable {
  const insert = db.prepare('INSERT INTO outbox (kind, payload, next_attempt_at, created_at) VALUES (?, ?, ?, ?)');
  const due = db.prepare(
    'SELECT id, kind, payload, attempts, next_attempt_at FROM outbox WHERE dead = 0 AND next_attempt_at <= ? ORDER BY id LIMIT ?',
  );
  const nextAt = db.prepare('SELECT min(next_attempt_at) FROM outbox WHERE dead = 0').pluck();
  const pending = db.prepare('SELECT count(*) FROM outbox WHERE dead = 0').pluck();
  const done = db.prepare('DELETE FROM outbox WHERE id = ?');
  const retry = db.prepare('UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?');
  const dead = db.prepare('UPDATE outbox SET attempts = attempts + 1, dead = 1, last_error = ? WHERE id = ?');
  return {
    add: (kind, payload, nowMs) => Number(insert.run(kind, JSON.stringify(payload), nowMs, nowMs).lastInsertRowid),
    due: (nowMs, limit) => due.all(nowMs, limit) as OutboxRow[],
    nextAt: () => (nextAt.get() as number | null) ?? undefined,
    pending: () => pending.get() as number,
    done: (id) => void done.run(id),
    retry: (id, at, error) => void retry.run(at, error, id),
    dead: (id, error) => void dead.run(error, id),
  };
}
