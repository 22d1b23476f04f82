import Database from 'better-sqlite3';
import { migrate } from './migrations.js';

/**
 * Opens (creating) the coordinator database. WAL lets /ready and reads run beside writes;
 * synchronous=NORMAL is durable across process crashes in WAL mode and only a power cut can lose
 * the last transactions, which the node outboxes replay anyway.
 */
export function openDatabase(file: string): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  // Session inserts land on random B-tree pages (uuid keys): a bigger page cache and fewer,
  // larger checkpoints keep the hot path from re-reading and re-syncing them.
  db.pragma('cache_size = -65536');
  db.pragma('wal_autocheckpoint = 4000');
  migrate(db);
  return db;
}
