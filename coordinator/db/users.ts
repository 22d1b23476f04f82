import type { Database } from 'better-sqlite3';

export interface UserRow {
  user_id: string;
  quota_bytes: number | null;
  used_bytes: number;
  reserved_bytes: number;
  objects: number;
}

/**
 * Users and their byte counters: the only code that writes `users`. Users are created on first
 * use; a null quota means the configured default applies. The counters move inside the callers'
 * transactions (a session reserves, a completed upload uses, a delete gives back).
 */
export interface UsersRepo {
  /** The user's row, or an empty one (default quota, nothing used) when never seen. */
  get(userId: string): UserRow;
  setQuota(userId: string, quotaBytes: number | null): UserRow;
  /** Moves the reserved figure by `delta` bytes (negative releases). */
  reserve(userId: string, delta: number): void;
  /** A completed upload: one more object and its bytes used. */
  addObject(userId: string, bytes: number): void;
  /** A deleted object: one fewer and its bytes freed (never below zero). */
  releaseUsage(userId: string, bytes: number): void;
}

export function usersRepo(db: Database): UsersRepo {
  const s = {
    get: db.prepare('SELECT * FROM users WHERE user_id = ?'),
    setQuota: db.prepare(
      `INSERT INTO users (user_id, quota_bytes) VALUES (?, ?)
       ON CONFLICT (user_id) DO UPDATE SET quota_bytes = excluded.quota_bytes`,
    ),
    reserve: db.prepare(
      `INSERT INTO users (user_id, reserved_bytes) VALUES (?, ?)
       ON CONFLICT (user_id) DO UPDATE SET reserved_bytes = reserved_bytes + excluded.reserved_bytes`,
    ),
    addObject: db.prepare(
      `INSERT INTO users (user_id, used_bytes, objects) VALUES (?, ?, 1)
       ON CONFLICT (user_id) DO UPDATE SET used_bytes = used_bytes + excluded.used_bytes, objects = objects + 1`,
    ),
    releaseUsage: db.prepare(
      'UPDATE users SET used_bytes = max(0, used_bytes - ?), objects = max(0, objects - 1) WHERE user_id = ?',
    ),
  };
  const repo: UsersRepo = {
    get(userId) {
      return (
        (s.get.get(userId) as UserRow | undefined) ?? {
          user_id: userId,
          quota_bytes: null,
          used_bytes: 0,
          reserved_bytes: 0,
          objects: 0,
        }
      );
    },
    setQuota(userId, quotaBytes) {
      s.setQuota.run(userId, quotaBytes);
      return repo.get(userId);
    },
    reserve: (userId, delta) => void s.reserve.run(userId, delta),
    addObject: (userId, bytes) => void s.addObject.run(userId, bytes),
    releaseUsage: (userId, bytes) => void s.releaseUsage.run(bytes, userId),
  };
  return repo;
}
