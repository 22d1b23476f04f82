import { randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import type { UploadComplete } from '../../shared/api.js';
import { errors } from '../../shared/errors.js';
import type { NodeHeartbeat } from '../../shared/heartbeat.js';
import { choosePool, type Placement } from '../placement.js';
import { RecentCompletions } from '../recent-completions.js';
import { PoolCandidates } from './pool-candidates.js';
import type { PoolRow } from './pools.js';
import type { UserRow } from './users.js';

export interface SessionRequest {
  app_id: string;
  user_id: string;
  file_size: number;
  sha256: string | null;
  content_type: string | null;
  filename: string | null;
  tier: string;
  visibility: string;
}

export interface SessionContext {
  heartbeats: ReadonlyMap<string, NodeHeartbeat>;
  now: number;
  maxAgeMs: number;
  defaultQuotaBytes: number;
  ttlMs: number;
}

export interface CreatedSession {
  session_id: string;
  expires_at: number;
  placement: Placement<PoolRow>;
}

interface SessionRow {
  session_id: string;
  app_id: string;
  user_id: string;
  pool_id: string;
  node_id: string;
  file_size: number;
  visibility: string;
  state: 'open' | 'completed' | 'expired';
}

/**
 * Upload sessions and the reservations they hold. Every state change is one synchronous
 * transaction that also moves the pool's and the user's reserved/used counters, so concurrent
 * requests can never both take the last free bytes.
 */
export function sessionsRepo(db: Database) {
  const s = {
    user: db.prepare('SELECT * FROM users WHERE user_id = ?'),
    recentlyCompleted: db.prepare(
      'SELECT pool_id, completed_at, file_size FROM sessions WHERE completed_at > ? ORDER BY completed_at',
    ),
    insert: db.prepare(
      `INSERT INTO sessions (session_id, app_id, user_id, pool_id, node_id, file_size, sha256, content_type,
         filename, tier, visibility, state, created_at, expires_at)
       VALUES (@session_id, @app_id, @user_id, @pool_id, @node_id, @file_size, @sha256, @content_type,
         @filename, @tier, @visibility, 'open', @now, @expires_at)`,
    ),
    poolReserve: db.prepare('UPDATE pools SET reserved_bytes = reserved_bytes + ? WHERE pool_id = ?'),
    userReserve: db.prepare(
      `INSERT INTO users (user_id, reserved_bytes) VALUES (?, ?)
       ON CONFLICT (user_id) DO UPDATE SET reserved_bytes = reserved_bytes + excluded.reserved_bytes`,
    ),
    userUse: db.prepare(
      `INSERT INTO users (user_id, used_bytes, objects) VALUES (?, ?, 1)
       ON CONFLICT (user_id) DO UPDATE SET used_bytes = used_bytes + excluded.used_bytes, objects = objects + 1`,
    ),
    get: db.prepare('SELECT * FROM sessions WHERE session_id = ?'),
    objectExists: db.prepare('SELECT 1 FROM objects WHERE image_uuid = ?'),
    insertObject: db.prepare(
      `INSERT INTO objects (image_uuid, app_id, user_id, session_id, pool_id, home_pool_id, node_id, rel_path, size, sha256,
         mime, visibility, state, status, created_at)
       VALUES (@image_uuid, @app_id, @user_id, @session_id, @pool_id, @pool_id, @node_id, @rel_path, @size, @sha256,
         @mime, @visibility, 'stored', 'processing', @created_at)`,
    ),
    // The primary copy enters the ledger with the object: replication and repair count from it.
    insertCopy: db.prepare(
      `INSERT INTO copies (image_uuid, pool_id, node_id, state, size, sha256, created_at, updated_at)
       VALUES (?, ?, ?, 'ok', ?, ?, ?, ?)`,
    ),
    replicationFactor: db.prepare('SELECT replication_factor FROM pools WHERE pool_id = ?').pluck(),
    markCompleted: db.prepare("UPDATE sessions SET state = 'completed', completed_at = ? WHERE session_id = ?"),
    dueForExpiry: db.prepare(
      "SELECT * FROM sessions WHERE state = 'open' AND expires_at < ? ORDER BY expires_at LIMIT ?",
    ),
    markExpired: db.prepare("UPDATE sessions SET state = 'expired' WHERE session_id = ? AND state = 'open'"),
  };

  // Seeded from SQLite so a restarted coordinator still counts what completed just before.
  const recent = new RecentCompletions();
  for (const r of s.recentlyCompleted.all(Date.now() - 5 * 60_000) as { pool_id: string; completed_at: number; file_size: number }[])
    recent.add(r.pool_id, r.completed_at, r.file_size);

  const candidates = new PoolCandidates(db);

  /** Inside a transaction; the caller reports the released rows to `candidates` after commit. */
  const release = (row: SessionRow) => {
    s.poolReserve.run(-row.file_size, row.pool_id);
    s.userReserve.run(row.user_id, -row.file_size);
  };

  const createTx = db.transaction((req: SessionRequest, ctx: SessionContext): CreatedSession => {
    const user = s.user.get(req.user_id) as UserRow | undefined;
    const quota = user?.quota_bytes ?? ctx.defaultQuotaBytes;
    const committed = (user?.used_bytes ?? 0) + (user?.reserved_bytes ?? 0);
    if (committed + req.file_size > quota)
      throw errors.forbidden(
        'quota_exceeded',
        `user ${req.user_id} has ${Math.max(0, quota - committed)} of ${quota} bytes left, needs ${req.file_size}`,
      );
    const placement = choosePool({
      pools: candidates.ofTier(req.tier),
      heartbeats: ctx.heartbeats,
      tier: req.tier,
      fileSize: req.file_size,
      now: ctx.now,
      maxAgeMs: ctx.maxAgeMs,
      reservedBytes: (pool, since) => candidates.reserved(pool.pool_id) + recent.since(pool.pool_id, since),
    });
    if (!placement)
      throw errors.unavailable('no_capacity', `no ${req.tier} pool has ${req.file_size} bytes free right now`);
    const session_id = randomUUID();
    const expires_at = ctx.now + ctx.ttlMs;
    s.insert.run({ ...req, session_id, pool_id: placement.pool.pool_id, node_id: placement.pool.node_id, now: ctx.now, expires_at });
    s.poolReserve.run(req.file_size, placement.pool.pool_id);
    s.userReserve.run(req.user_id, req.file_size);
    return { session_id, expires_at, placement };
  });

  const create = (req: SessionRequest, ctx: SessionContext): CreatedSession => {
    const created = createTx(req, ctx);
    candidates.committed(created.placement.pool.pool_id, req.file_size);
    return created;
  };

  /**
   * Records a finished upload. Idempotent on image_uuid (a node's outbox may deliver twice).
   * A session already released by expiry only adds used bytes: its reservation is gone.
   */
  const completeTx = db.transaction((body: UploadComplete, issuer: string, now: number): { session: SessionRow; released: boolean; replicationFactor: number } | undefined => {
    if (s.objectExists.get(body.image_uuid)) return undefined;
    const session = s.get.get(body.session_id) as SessionRow | undefined;
    if (!session) throw errors.conflict('unknown_session', `no session ${body.session_id}`);
    if (session.node_id !== issuer || body.node_id !== issuer || body.pool_id !== session.pool_id)
      throw errors.forbidden('node_mismatch', `session ${body.session_id} was placed on ${session.node_id}/${session.pool_id}`);
    if (body.user_id !== session.user_id)
      throw errors.forbidden('session_mismatch', `session ${body.session_id} belongs to another user`);
    s.insertObject.run({
      image_uuid: body.image_uuid,
      app_id: session.app_id,
      user_id: session.user_id,
      session_id: session.session_id,
      pool_id: session.pool_id,
      node_id: session.node_id,
      rel_path: body.rel_path,
      size: body.size,
      sha256: body.sha256,
      mime: body.mime,
      visibility: session.visibility,
      created_at: Number.isFinite(Date.parse(body.created_at)) ? Date.parse(body.created_at) : now,
    });
    s.insertCopy.run(body.image_uuid, session.pool_id, session.node_id, body.size, body.sha256, now, now);
    const released = session.state === 'open';
    if (released) release(session);
    s.markCompleted.run(now, session.session_id);
    s.userUse.run(session.user_id, body.size);
    return { session, released, replicationFactor: (s.replicationFactor.get(session.pool_id) as number | undefined) ?? 1 };
  });

  /** `replicate`: the pool wants more than one copy, so the durability loop should plan one now. */
  const complete = (body: UploadComplete, issuer: string, now: number): { duplicate: boolean; replicate: boolean } => {
    const done = completeTx(body, issuer, now);
    // Only once committed: a rolled-back completion must move no figure.
    if (done) {
      recent.add(done.session.pool_id, now, done.session.file_size);
      if (done.released) candidates.committed(done.session.pool_id, -done.session.file_size);
    }
    return { duplicate: !done, replicate: (done?.replicationFactor ?? 1) > 1 };
  };

  /** Releases up to `limit` open sessions whose deadline (expiry + grace) passed; returns how many. */
  const expireTx = db.transaction((deadline: number, limit: number): { due: number; released: SessionRow[] } => {
    const due = s.dueForExpiry.all(deadline, limit) as SessionRow[];
    const released = due.filter((row) => s.markExpired.run(row.session_id).changes === 1);
    for (const row of released) release(row);
    return { due: due.length, released };
  });

  const expire = (deadline: number, limit: number): number => {
    const { due, released } = expireTx(deadline, limit);
    for (const row of released) candidates.committed(row.pool_id, -row.file_size);
    return due;
  };

  return { create, complete, expire };
}
export type SessionsRepo = ReturnType<typeof sessionsRepo>;
