import type { Database } from 'better-sqlite3';

export interface UserRow {
  app_id: string;
  user_id: string;
  quota_bytes: number | null;
  used_bytes: number;
  reserved_bytes: number;
  objects: number;
}

/**
 * Users and their byte counters: the only code that writes `users`. A user is an app's: the
 * same `user_id` in two apps is two users with two quotas (one app can neither read nor spend
 * another's). Users are created on first use; a null quota means the configured default applies.
 * The counters move inside the callers' transactions (a session reserves, a completed upload
 * uses, a delete gives back).
 */
export interface UsersRepo {
  /** The user's row, or an empty one (default quota, nothing used) when never seen. */
  get(appId: string, userId: string): UserRow;
  setQuota(appId: string, userId: string, quotaBytes: number | null): UserRow;
  /** Moves the reserved figure by `delta` bytes (negative releases). */
  reserve(appId: string, userId: string, delta: number): void;
  /** A completed upload: one more object and its bytes used. */
  addObject(appId: string, userId: string, bytes: number): void;
  /** A deleted object: one fewer and its bytes freed (never below zero). */
  releaseUsage(appId: string, userId: string, bytes: number): void;
}

export function usersRepo(db: Database): UsersRepo {
  const s = {
    get: db.prepare('SELECT * FROM users WHERE app_id = ? AND user_id = ?'),
    setQuota: db.prepare(
      `INSERT INTO users (app_id, user_id, quota_bytes) VALUES (?, ?, ?)
       ON CONFLICT (app_id, user_id) DO UPDATE SET quota_bytes = excluded.quota_bytes`,
    ),
    reserve: db.prepare(
      `INSERT INTO users (app_id, user_id, reserved_bytes) VALUES (?, ?, ?)
       ON CONFLICT (app_id, user_id) DO UPDATE SET reserved_bytes = reserved_bytes + excluded.reserved_bytes`,
    ),
    addObject: db.prepare(
      `INSERT INTO users (app_id, user_id, used_bytes, objects) VALUES (?, ?, ?, 1)
       ON CONFLICT (app_id, user_id) DO UPDATE SET used_bytes = used_bytes + excluded.used_bytes, objects = objects + 1`,
    ),
    releaseUsage: db.prepare(
      'UPDATE users SET used_bytes = max(0, used_bytes - ?), objects = max(0, objects - 1) WHERE app_id = ? AND user_id = ?',
    ),
  };
  const repo: UsersRepo = {
    get(appId, userId) {
      return (
        (s.get.get(appId, userId) as UserRow | undefined) ?? {
          app_id: appId,
          user_id: userId,
          quota_bytes: null,
          used_bytes: 0,
          reserved_bytes: 0,
          objects: 0,
        }
      );
    },
    setQuota(appId, userId, quotaBytes) {
      s.setQuota.run(appId, userId, quotaBytes);
      return repo.get(appId, userId);
    },
    reserve: (appId, userId, delta) => void s.reserve.run(appId, userId, delta),
    addObject: (appId, userId, bytes) => void s.addObject.run(appId, userId, bytes),
    releaseUsage: (appId, userId, bytes) => void s.releaseUsage.run(bytes, appId, userId),
  };
  return repo;
}
