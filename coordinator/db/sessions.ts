import { randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import type { UploadComplete } from '../../shared/api.js';
import { errors } from '../../shared/errors.js';
import type { NodeHeartbeat } from '../../shared/heartbeat.js';
import { choosePool, type Placement } from '../placement.js';
import { RecentCompletions } from '../recent-completions.js';
import type { CopiesRepo } from './copies.js';
import type { ObjectsRepo } from './objects.js';
import { PoolCandidates } from './pool-candidates.js';
import type { PoolRow, PoolsRepo } from './pools.js';
import type { UsersRepo } from './users.js';

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
 * Upload sessions and the reservations they hold: the only code that writes `sessions`. Every
 * state change is one synchronous transaction that also moves the pool's and the user's
 * reserved/used counters (through their repos), so concurrent requests can never both take the
 * last free bytes.
 */
export interface SessionsRepo {
  /** Places and opens a session, reserving its bytes on the pool and the user. */
  create(req: SessionRequest, ctx: SessionContext): CreatedSession;
  /**
   * Records a finished upload: the object and its primary copy, the user's usage, the session
   * closed. Idempotent on image_uuid (a node's outbox may deliver twice). `replicate`: the pool
   * wants more than one copy, so the durability loop should plan one now.
   *
   * A session the sweeper already released holds no bytes: its upload is counted only if it
   * still fits (used + other live reservations + this ≤ quota), else it is refused with a 410
   * `upload_refused`, which tells the node to delete the file (its outbox never retries a 410).
   * Counted once: a repeat of a recorded completion is a duplicate, a repeat of a refused one is
   * refused again.
   */
  complete(body: UploadComplete, issuer: string, now: number, defaultQuotaBytes: number): { duplicate: boolean; replicate: boolean };
  /** Releases up to `limit` open sessions whose deadline (expiry + grace) passed; returns how many. */
  expire(deadline: number, limit: number): number;
}

/** The owners of the other tables a session's transactions write. */
export interface SessionWriters {
  objects: ObjectsRepo;
  copies: CopiesRepo;
  pools: PoolsRepo;
  users: UsersRepo;
}

export function sessionsRepo(db: Database, w: SessionWriters): SessionsRepo {
  const { objects, copies, pools, users } = w;
  const s = {
    recentlyCompleted: db.prepare('SELECT pool_id, completed_at, file_size FROM sessions WHERE completed_at > ? ORDER BY completed_at'),
    insert: db.prepare(
      `INSERT INTO sessions (session_id, app_id, user_id, pool_id, node_id, file_size, sha256, content_type,
         filename, tier, visibility, state, created_at, expires_at)
       VALUES (@session_id, @app_id, @user_id, @pool_id, @node_id, @file_size, @sha256, @content_type,
         @filename, @tier, @visibility, 'open', @now, @expires_at)`,
    ),
    get: db.prepare('SELECT * FROM sessions WHERE session_id = ?'),
    // A read on the completion path: one column, not the pool row.
    replicationFactor: db.prepare('SELECT replication_factor FROM pools WHERE pool_id = ?').pluck(),
    markCompleted: db.prepare("UPDATE sessions SET state = 'completed', completed_at = ? WHERE session_id = ?"),
    dueForExpiry: db.prepare("SELECT * FROM sessions WHERE state = 'open' AND expires_at < ? ORDER BY expires_at LIMIT ?"),
    markExpired: db.prepare("UPDATE sessions SET state = 'expired' WHERE session_id = ? AND state = 'open'"),
  };

  // Seeded from SQLite so a restarted coordinator still counts what completed just before.
  const recent = new RecentCompletions();
  for (const r of s.recentlyCompleted.all(Date.now() - 5 * 60_000) as { pool_id: string; completed_at: number; file_size: number }[])
    recent.add(r.pool_id, r.completed_at, r.file_size);

  const candidates = new PoolCandidates(db);

  /** Inside a transaction; the caller reports the released rows to `candidates` after commit. */
  const release = (row: SessionRow) => {
    pools.reserve(row.pool_id, -row.file_size);
    users.reserve(row.app_id, row.user_id, -row.file_size);
  };

  /** A completion whose reservation is gone (session expired) must fit beside what is live now. */
  const refuseOverQuota = (session: SessionRow, size: number, defaultQuotaBytes: number) => {
    const user = users.get(session.app_id, session.user_id);
    const quota = user.quota_bytes ?? defaultQuotaBytes;
    if (user.used_bytes + user.reserved_bytes + size > quota)
      throw errors.gone(
        'upload_refused',
        `session ${session.session_id} expired and its ${size} bytes no longer fit user ${session.user_id}'s quota of ${quota}`,
      );
  };

  const createTx = db.transaction((req: SessionRequest, ctx: SessionContext): CreatedSession => {
    const user = users.get(req.app_id, req.user_id);
    const quota = user.quota_bytes ?? ctx.defaultQuotaBytes;
    const committed = user.used_bytes + user.reserved_bytes;
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
    if (!placement) throw errors.unavailable('no_capacity', `no ${req.tier} pool has ${req.file_size} bytes free right now`);
    const session_id = randomUUID();
    const expires_at = ctx.now + ctx.ttlMs;
    s.insert.run({ ...req, session_id, pool_id: placement.pool.pool_id, node_id: placement.pool.node_id, now: ctx.now, expires_at });
    pools.reserve(placement.pool.pool_id, req.file_size);
    users.reserve(req.app_id, req.user_id, req.file_size);
    return { session_id, expires_at, placement };
  });

  const create = (req: SessionRequest, ctx: SessionContext): CreatedSession => {
    const created = createTx(req, ctx);
    candidates.committed(created.placement.pool.pool_id, req.file_size);
    return created;
  };

  const completeTx = db.transaction(
    (
      body: UploadComplete,
      issuer: string,
      now: number,
      defaultQuotaBytes: number,
    ): { session: SessionRow; released: boolean; replicationFactor: number } | undefined => {
      if (objects.exists(body.image_uuid)) return undefined;
      const session = s.get.get(body.session_id) as SessionRow | undefined;
      if (!session) throw errors.conflict('unknown_session', `no session ${body.session_id}`);
      if (session.node_id !== issuer || body.node_id !== issuer || body.pool_id !== session.pool_id)
        throw errors.forbidden('node_mismatch', `session ${body.session_id} was placed on ${session.node_id}/${session.pool_id}`);
      if (body.user_id !== session.user_id)
        throw errors.forbidden('session_mismatch', `session ${body.session_id} belongs to another user`);
      const released = session.state === 'open';
      if (!released) refuseOverQuota(session, body.size, defaultQuotaBytes);
      objects.insert({
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
      // The primary copy enters the ledger with the object: replication and repair count from it.
      copies.insert(
        {
          image_uuid: body.image_uuid,
          pool_id: session.pool_id,
          node_id: session.node_id,
          state: 'ok',
          size: body.size,
          sha256: body.sha256,
        },
        now,
      );
      if (released) release(session);
      s.markCompleted.run(now, session.session_id);
      users.addObject(session.app_id, session.user_id, body.size);
      return { session, released, replicationFactor: (s.replicationFactor.get(session.pool_id) as number | undefined) ?? 1 };
    },
  );

  const complete = (
    body: UploadComplete,
    issuer: string,
    now: number,
    defaultQuotaBytes: number,
  ): { duplicate: boolean; replicate: boolean } => {
    const done = completeTx(body, issuer, now, defaultQuotaBytes);
    // Only once committed: a rolled-back completion must move no figure.
    if (done) {
      recent.add(done.session.pool_id, now, done.session.file_size);
      if (done.released) candidates.committed(done.session.pool_id, -done.session.file_size);
    }
    return { duplicate: !done, replicate: (done?.replicationFactor ?? 1) > 1 };
  };

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
