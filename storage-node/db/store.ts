import type { UploadComplete } from '../../shared/api.js';
import { errors } from '../../shared/errors.js';
import type { CopyStored } from '../../shared/replication.js';
import { nodeObjects, type ObjectRow } from './objects.js';
import type { Db } from './open.js';
import { OUTBOX_UPLOAD_COMPLETE, type OutboxEntry, type OutboxRow, outboxTable } from './outbox.js';
import { usedTokens } from './tokens.js';

export type { ObjectRow } from './objects.js';
export { OUTBOX_UPLOAD_COMPLETE, type OutboxEntry, type OutboxRow } from './outbox.js';

/** An original received from a peer (storage-node/replication/receive.ts), with its processing state. */
export interface CopyRecord extends ObjectRow {
  status: 'processing' | 'ready' | 'failed';
  width: number | null;
  height: number | null;
  format: string | null;
  /**
   * JSON array of the variant files the sender already put here (a pool move), or null: the
   * variants are made here, so an existing row keeps its own state and a new one starts processing.
   */
  variants: string | null;
}

/** What recordCopy found and left. */
export interface CopyOutcome {
  /** No row for this uuid existed before. */
  created: boolean;
  /** The row's status before (undefined when created) and after the commit. */
  previousStatus: string | undefined;
  status: string;
}

/**
 * The node's SQLite state behind small, named operations (prepared once), composed from the
 * tables' owners in this folder: what the upload, replication and outbox paths share.
 */
export interface NodeStore {
  /** Claims a token id for one upload; false when it was already used. */
  claimToken(jti: string, exp: number): boolean;
  /** Gives a token back after a failed upload so the client can retry while it is valid. */
  releaseToken(jti: string): void;
  pruneTokens(nowSeconds: number): number;
  /** The object row and the job telling the coordinator about it commit together or not at all. */
  recordUpload(obj: ObjectRow, complete: UploadComplete, nowMs: number): number;
  getObject(uuid: string): ObjectRow | undefined;
  /**
   * Records an original received from a peer and its `copy.stored` report in one transaction:
   * a new row (origin `replica`, scrub state ok), or an existing row of the same object brought
   * back to ok (a repair). A row of this uuid with another sha256, path or pool is left alone
   * and answered with 409 `conflict`.
   */
  recordCopy(copy: CopyRecord, stored: CopyStored, nowMs?: number): CopyOutcome;
  /**
   * Deletes an object's row and, in the same transaction, inserts `outbox` when given (e.g. a
   * `copy.deleted` report). Returns the row deleted, undefined when there was none (nothing is
   * inserted then either). The pool's used-bytes figure follows.
   */
  deleteObject(uuid: string, outbox?: OutboxEntry, nowMs?: number): ObjectRow | undefined;
  countObjects(): number;
  usedBytes(poolId: string): number;
  /** The worker process removed or moved rows: used bytes are summed from SQLite again. */
  forgetUsage(): void;
  dueOutbox(nowMs: number, limit: number): OutboxRow[];
  nextOutboxAt(): number | undefined;
  outboxPending(): number;
  outboxDone(id: number): void;
  outboxRetry(id: number, nextAttemptAt: number, error: string): void;
  outboxDead(id: number, error: string): void;
  ping(): boolean;
}

export function createStore(db: Db): NodeStore {
  const objects = nodeObjects(db);
  const outbox = outboxTable(db);
  const tokens = usedTokens(db);
  const ping = db.prepare('SELECT 1').pluck();
  const record = db.transaction((obj: ObjectRow, complete: UploadComplete, nowMs: number) => {
    objects.insertUpload(obj);
    return outbox.add(OUTBOX_UPLOAD_COMPLETE, complete, nowMs);
  });
  const copy = db.transaction((c: CopyRecord, stored: CopyStored, nowMs: number): CopyOutcome => {
    const prev = objects.get(c.uuid) as (ObjectRow & { status: string }) | undefined;
    if (prev && (prev.sha256 !== c.sha256 || prev.size !== c.size || prev.rel_path !== c.rel_path || prev.pool_id !== c.pool_id))
      throw errors.conflict('conflict', `object ${c.uuid} is recorded here with other bytes or at another place`);
    const state = {
      uuid: c.uuid,
      status: c.variants === null ? 'processing' : c.status,
      width: c.width,
      height: c.height,
      format: c.format,
      variants: c.variants ?? '[]',
      thumbnails_ready: c.variants !== null && c.status === 'ready' ? (1 as const) : (0 as const),
    };
    if (!prev) objects.insertCopy({ ...c, ...state, now_ms: nowMs, now: new Date(nowMs).toISOString() });
    else {
      objects.markRepaired(c.uuid, nowMs);
      // A list is the sender's finished state (a move brings the files); null keeps what this node made.
      if (c.variants !== null) objects.takeCopyState(state);
    }
    outbox.add('copy.stored', stored, nowMs);
    return { created: !prev, previousStatus: prev?.status, status: prev && c.variants === null ? prev.status : state.status };
  });
  const remove = db.transaction((uuid: string, entry: OutboxEntry | undefined, nowMs: number) => {
    const row = objects.get(uuid);
    if (!row) return undefined;
    objects.remove(uuid);
    if (entry) outbox.add(entry.kind, entry.payload, nowMs);
    return row;
  });

  // Bytes stored per pool, summed from SQLite once and then kept in step with every row
  // recorded: the upload path asks on every request, and a SUM over a million rows is not free.
  const usedByPool = new Map<string, number>();
  const usedBytes = (poolId: string): number => {
    let n = usedByPool.get(poolId);
    if (n === undefined) usedByPool.set(poolId, (n = objects.usedBytes(poolId)));
    return n;
  };

  return {
    claimToken: tokens.claim,
    releaseToken: tokens.release,
    pruneTokens: tokens.prune,
    recordUpload: (obj, complete, nowMs) => {
      const before = usedBytes(obj.pool_id);
      const id = record(obj, complete, nowMs);
      usedByPool.set(obj.pool_id, before + obj.size);
      return id;
    },
    getObject: objects.get,
    recordCopy: (c, stored, nowMs = Date.now()) => {
      const before = usedBytes(c.pool_id);
      const outcome = copy(c, stored, nowMs);
      if (outcome.created) usedByPool.set(c.pool_id, before + c.size);
      return outcome;
    },
    deleteObject: (uuid, entry, nowMs = Date.now()) => {
      const row = remove(uuid, entry, nowMs);
      // Only a pool whose figure is cached needs adjusting; an uncached one is summed fresh later.
      const n = row && usedByPool.get(row.pool_id);
      if (row && n !== undefined) usedByPool.set(row.pool_id, n - row.size);
      return row;
    },
    countObjects: objects.count,
    usedBytes,
    forgetUsage: () => usedByPool.clear(),
    dueOutbox: outbox.due,
    nextOutboxAt: outbox.nextAt,
    outboxPending: outbox.pending,
    outboxDone: outbox.done,
    outboxRetry: outbox.retry,
    outboxDead: outbox.dead,
    ping: () => ping.get() === 1,
  };
}
