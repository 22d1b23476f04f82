import type { Database } from 'better-sqlite3';

export interface WebhookRow {
  id: number;
  event_id: string;
  app_id: string;
  url: string;
  event: string;
  payload: string;
  attempts: number;
}

/** The persistent webhook outbox: rows survive a coordinator restart and are retried until a 2xx. */
export function webhookOutboxRepo(db: Database) {
  const insert = db.prepare(
    `INSERT OR IGNORE INTO webhook_outbox (event_id, app_id, url, event, payload, next_attempt_at, created_at)
     VALUES (@event_id, @app_id, @url, @event, @payload, @now, @now)`,
  );
  const due = db.prepare(
    `SELECT id, event_id, app_id, url, event, payload, attempts FROM webhook_outbox
     WHERE delivered_at IS NULL AND dead = 0 AND next_attempt_at <= ? ORDER BY id LIMIT ?`,
  );
  const nextAt = db.prepare('SELECT min(next_attempt_at) FROM webhook_outbox WHERE delivered_at IS NULL AND dead = 0').pluck();
  const delivered = db.prepare('UPDATE webhook_outbox SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?');
  const retry = db.prepare('UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?');
  const dead = db.prepare('UPDATE webhook_outbox SET attempts = attempts + 1, dead = 1, last_error = ? WHERE id = ?');
  const pending = db.prepare('SELECT count(*) FROM webhook_outbox WHERE delivered_at IS NULL AND dead = 0').pluck();
  return {
    /** Queues one event; the same event_id again is ignored (exactly one webhook per event). */
    add(row: { event_id: string; app_id: string; url: string; event: string; payload: string }, now: number): boolean {
      return insert.run({ ...row, now }).changes === 1;
    },
    due: (now: number, limit: number) => due.all(now, limit) as WebhookRow[],
    nextAt: () => (nextAt.get() as number | null) ?? undefined,
    delivered: (id: number, now: number) => void delivered.run(now, id),
    retry: (id: number, at: number, error: string) => void retry.run(at, error, id),
    dead: (id: number, error: string) => void dead.run(error, id),
    pending: () => pending.get() as number,
  };
}
export type WebhookOutboxRepo = ReturnType<typeof webhookOutboxRepo>;
