import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './migrations.js';

/** The node's SQLite database (objects, outbox, used tokens, tus uploads; one owner each in this folder). */
export type Db = Database.Database;

/** The write-ahead log beside a WAL-mode database: fsyncing it makes every commit so far durable. */
export function walFile(dbFile: string): string {
  return `${dbFile}-wal`;
}

/**
 * Opens the node database. WAL lets readers (heartbeat sums, /ready) run beside the writer.
 * synchronous=NORMAL: better-sqlite3 is synchronous, so FULL would fsync the log on every commit
 * *on the event loop*, stalling every upload in flight (it capped small uploads at ~250/s). The
 * 201's promise that the row survives a power cut is kept by `walFile(file)` being fsynced after
 * the commit, off the event loop and group-committed (upload/finish.ts); rows nobody was
 * promised anything about (token claims, outbox deliveries) ride along with the next such fsync.
 */
export function openDb(file: string): Db {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  migrate(db);
  return db;
}
