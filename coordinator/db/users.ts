import type { Database } from 'better-sqlite3';

export interface UserRow {
  user_id: string;
  quota_bytes: number | null;
  used_bytes: number;
  reserved_bytes: number;
  objects: number;
}

/** Users are created on first use; a null quota means the configured default applies. */
export function usersRepo(db: Database) {
  const get = db.prepare('SELECT * FROM users WHERE user_id = ?');
  const setQuota = db.prepare(
    `INSERT INTO users (user_id, quota_bytes) VALUES (?, ?)
     ON CONFLICT (user_id) DO UPDATE SET quota_bytes = excluded.quota_bytes`,
  );
  const repo = {
    get(userId: string): UserRow {
      return (
        (get.get(userId) as UserRow | undefined) ?? {
          user_id: userId,
          quota_bytes: null,
          used_bytes: 0,
          reserved_bytes: 0,
          objects: 0,
        }
      );
    },
    setQuota(userId: string, quotaBytes: number | null): UserRow {
      setQuota.run(userId, quotaBytes);
      return repo.get(userId);
    },
  };
  return repo;
}
export type UsersRepo = ReturnType<typeof usersRepo>;
