import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate, SCHEMA_VERSION } from './migrations.js';
import { usersRepo } from './users.js';

/** A database at the schema just before users were re-keyed by app. */
function beforeRekey(): Database.Database {
  const db = new Database(':memory:');
  for (let v = 0; v < SCHEMA_VERSION - 1; v++) db.exec(MIGRATIONS[v]!);
  db.pragma(`user_version = ${SCHEMA_VERSION - 1}`);
  return db;
}

describe('users migration to (app_id, user_id)', () => {
  it('recomputes usage per app from objects and open sessions and keeps quota overrides', () => {
    const db = beforeRekey();
    const app = db.prepare('INSERT INTO apps (app_id, name, api_key_hash, created_at) VALUES (?, ?, ?, 0)');
    app.run('A', 'a', 'ha');
    app.run('B', 'b', 'hb');
    db.prepare('INSERT INTO users (user_id, quota_bytes, used_bytes, reserved_bytes, objects) VALUES (?, ?, ?, ?, ?)').run(
      'alice',
      5000,
      300,
      50,
      3,
    );
    const obj = db.prepare(
      `INSERT INTO objects (image_uuid, app_id, user_id, session_id, pool_id, node_id, rel_path, size, sha256, mime, visibility, state, status, created_at)
       VALUES (?, ?, 'alice', 's', 'p1', 'n1', 'r', ?, 'x', 'image/png', 'public', 'ok', 'ready', 0)`,
    );
    obj.run('o1', 'A', 100);
    obj.run('o2', 'A', 100);
    obj.run('o3', 'B', 100);
    db.prepare(
      `INSERT INTO sessions (session_id, app_id, user_id, pool_id, node_id, file_size, tier, visibility, state, created_at, expires_at)
       VALUES ('s1', 'B', 'alice', 'p1', 'n1', 50, 'hot', 'public', 'open', 0, 1)`,
    ).run();

    migrate(db);
    const users = usersRepo(db);
    expect(users.get('A', 'alice')).toMatchObject({ quota_bytes: 5000, used_bytes: 200, objects: 2, reserved_bytes: 0 });
    expect(users.get('B', 'alice')).toMatchObject({ quota_bytes: 5000, used_bytes: 100, objects: 1, reserved_bytes: 50 });
    users.addObject('A', 'alice', 10);
    expect(users.get('B', 'alice').used_bytes).toBe(100);
  });
});
