import { performance } from 'node:perf_hooks';
import type { Logger } from '../../shared/logger.js';
import { resolveInPool } from '../../shared/paths.js';
import type { Db } from '../db/open.js';
import type { WorkerMessage } from '../jobs/worker-messages.js';
import type { PoolSet } from '../pools.js';
import { TokenBucket } from '../throttle.js';
import { checkFile } from './check.js';
import { createScrubRecords, type ScrubRecords, type ScrubRow } from './records.js';

/** The IPC messages scrub sends (the main process turns them into metrics). */
export type ScrubReport = Extract<WorkerMessage, { t: 'scrubbed' | 'scrub-pass' }>;

export interface ScrubPassOptions {
  /** The node's SQLite (objects, outbox). */
  db: Db;
  /** This node's pools; rows of any other pool are skipped. */
  pools: PoolSet;
  nodeId: string;
  logger: Logger;
  /** Read-rate cap for the whole pass, bytes per second; 0 = none. */
  bytesPerSec: number;
  /** Called after outbox rows were committed (in the worker: an IPC nudge to the main process). */
  wakeOutbox: () => void;
  /** Per-object and per-pass figures for /metrics. */
  onReport?: (msg: ScrubReport) => void;
  /** Objects to re-read at most in one pass (default: all); the next pass goes on from the oldest. */
  maxObjectsPerPass?: number;
  /** Rows read from SQLite at a time, and copies.scrubbed rows batch size (1..1000, default 500). */
  pageSize?: number;
}

export interface ScrubSummary {
  /** Objects whose file was looked at (skipped ones excluded). */
  checked: number;
  ok: number;
  missing: number;
  mismatch: number;
  /** Unreadable for another reason than ENOENT (logged, not reported). */
  errors: number;
  /** Replaced or changed while read: left for the next pass. */
  changed: number;
  /** Rows of pools this node has no directory for (gone from FENNEC_POOLS, or s3 pools). */
  skipped: number;
  /** copy.corrupt rows written (bad states that are new). */
  reported: number;
  bytes: number;
  seconds: number;
  /** stop() ended the pass early; what was verified until then is committed. */
  aborted: boolean;
}

export function emptySummary(aborted = false): ScrubSummary {
  return { checked: 0, ok: 0, missing: 0, mismatch: 0, errors: 0, changed: 0, skipped: 0, reported: 0, bytes: 0, seconds: 0, aborted };
}

/** One pass with its own prepared statements (tests; the scheduler keeps one set for all passes). */
export function runScrubPass(opts: ScrubPassOptions & { signal?: AbortSignal }): Promise<ScrubSummary> {
  return scrubPass(opts, createScrubRecords(opts.db, opts.nodeId), opts.signal ?? new AbortController().signal);
}

export async function scrubPass(opts: ScrubPassOptions, records: ScrubRecords, signal: AbortSignal): Promise<ScrubSummary> {
  const started = performance.now();
  const pageSize = Math.min(1000, Math.max(1, opts.pageSize ?? 500));
  const max = opts.maxObjectsPerPass ?? Number.POSITIVE_INFINITY;
  const ctx: PassContext = { opts, records, signal, bucket: new TokenBucket(opts.bytesPerSec), s: emptySummary() };
  const { s } = ctx;
  try {
    pages: for (const page of records.pages(Date.now(), pageSize)) {
      const verified: ScrubRow[] = [];
      try {
        for (const row of page) {
          if (s.checked >= max) break pages;
          if (await scrubRow(ctx, row)) verified.push(row);
        }
      } finally {
        // Also on abort: what was verified before stop() is worth keeping.
        if (verified.length > 0 && records.markOk(verified, Date.now()) > 0) opts.wakeOutbox();
      }
    }
  } catch (err) {
    if (!signal.aborted) throw err;
    s.aborted = true;
  }
  s.seconds = (performance.now() - started) / 1000;
  if (!s.aborted) opts.onReport?.({ t: 'scrub-pass', seconds: s.seconds, at: Date.now() / 1000 });
  opts.logger.info({ scrub: s }, s.aborted ? 'scrub pass stopped' : 'scrub pass done');
  return s;
}

interface PassContext {
  opts: ScrubPassOptions;
  records: ScrubRecords;
  signal: AbortSignal;
  bucket: TokenBucket;
  s: ScrubSummary;
}

/** Re-reads one row's file; true when it verified ok (recorded with its page). Bad states commit here. */
async function scrubRow({ opts, records, signal, bucket, s }: PassContext, row: ScrubRow): Promise<boolean> {
  // An s3 pool's rows land here too (PoolSet.get has disk pools only): no local file to re-read.
  const pool = opts.pools.get(row.pool_id);
  if (!pool) {
    s.skipped++;
    return false;
  }
  s.checked++;
  const log = { image_uuid: row.uuid, pool_id: row.pool_id, rel_path: row.rel_path };
  let abs: string;
  try {
    abs = resolveInPool(pool.config.path, row.rel_path);
  } catch (err) {
    s.errors++;
    opts.logger.warn({ ...log, err }, 'scrub: recorded path is not a pool path');
    return false;
  }
  const res = await checkFile(abs, row, bucket, signal);
  s.bytes += res.bytes;
  if (res.outcome === 'changed') {
    s.changed++;
    return false;
  }
  opts.onReport?.({ t: 'scrubbed', outcome: res.outcome, bytes: res.bytes });
  if (res.outcome === 'ok') {
    s.ok++;
    return true;
  }
  if (res.outcome === 'error') {
    s.errors++;
    opts.logger.warn({ ...log, err: res.error }, 'scrub: original unreadable; not judged');
    return false;
  }
  s[res.outcome]++;
  const result = records.markBad(row, res.outcome, Date.now());
  if (result === 'reported') {
    s.reported++;
    opts.wakeOutbox();
    const detail = res.outcome === 'mismatch' ? res.detail : undefined;
    opts.logger.warn({ ...log, reason: res.outcome, detail }, 'scrub: original is bad; reported to the coordinator');
  } else opts.logger.debug({ ...log, reason: res.outcome, result }, 'scrub: original still bad');
  return false;
}
