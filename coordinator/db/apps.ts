import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';

export interface AppRow {
  app_id: string;
  name: string;
  webhook_url: string | null;
  created_at: number;
}

export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex');
}

/** Apps (the operator's backends) and their API keys; only a key's SHA-256 is stored. The only writer of `apps`. */
export interface AppsRepo {
  /** A new app and its API key, which is shown once and never stored. */
  create(name: string, webhookUrl: string | null): AppRow & { api_key: string };
  list(): AppRow[];
  byApiKey(apiKey: string): AppRow | undefined;
}

export function appsRepo(db: Database): AppsRepo {
  const insert = db.prepare('INSERT INTO apps (app_id, name, api_key_hash, webhook_url, created_at) VALUES (?, ?, ?, ?, ?)');
  const all = db.prepare('SELECT app_id, name, webhook_url, created_at FROM apps ORDER BY created_at, app_id');
  const byHash = db.prepare('SELECT app_id, name, webhook_url, created_at FROM apps WHERE api_key_hash = ?');
  // Apps are never deleted or re-keyed, so a found key stays valid: cache hits skip SQLite.
  const cache = new Map<string, AppRow>();

  return {
    create(name: string, webhookUrl: string | null): AppRow & { api_key: string } {
      const apiKey = `fk_${randomBytes(32).toString('base64url')}`;
      const row: AppRow = { app_id: randomUUID(), name, webhook_url: webhookUrl, created_at: Date.now() };
      insert.run(row.app_id, row.name, hashApiKey(apiKey), row.webhook_url, row.created_at);
      return { ...row, api_key: apiKey };
    },
    list(): AppRow[] {
      return all.all() as AppRow[];
    },
    byApiKey(apiKey: string): AppRow | undefined {
      const hash = hashApiKey(apiKey);
      const hit = cache.get(hash);
      if (hit) return hit;
      const row = byHash.get(hash) as AppRow | undefined;
      if (row) cache.set(hash, row);
      return row;
    },
  };
}
