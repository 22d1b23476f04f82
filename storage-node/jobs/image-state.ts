import type { ImageEvent, ImageEventType, VariantFileInfo } from '../../shared/api.js';
import { createBackupRecords } from '../backup/records.js';
import { nodeObjects } from '../db/objects.js';
import type { Db } from '../db/open.js';
import { outboxTable } from '../db/outbox.js';

/** What a variant job needs to know about an image, from the node's SQLite. */
export interface ImageWork {
  uuid: string;
  pool_id: string;
  rel_path: string;
  mime: string;
  status: 'processing' | 'ready' | 'failed';
  thumbnails_ready: 0 | 1;
  variants: string;
}

export interface Dimensions {
  width: number;
  height: number;
  format: string;
}

/**
 * Image processing state in the node's SQLite: the source of truth the queue is rebuilt from.
 * Each milestone commits the new state and its outbox row for the coordinator together.
 */
export interface ImageState {
  get(uuid: string): ImageWork | undefined;
  /** Every image whose variant work is not done, oldest first (re-enqueued on start and reconnect). */
  pending(): ImageWork[];
  thumbnailsReady(uuid: string, dims: Dimensions, variants: VariantFileInfo[]): void;
  ready(uuid: string, dims: Dimensions, variants: VariantFileInfo[]): void;
  failed(uuid: string, reason: string): void;
  /** Counts by status, for /metrics. */
  counts(): Record<string, number>;
}

/** Pools with an S3 backup target: their uploads get a backup when the variants job ends. */
export interface BackupScheduling {
  /** The pool's backup delay in ms; undefined = the pool has no backup target. */
  delayMsFor(poolId: string): number | undefined;
  /** After the commit: a backup became pending, due at `dueAt` (epoch ms). */
  onScheduled?(uuid: string, dueAt: number): void;
}

interface Row extends ImageWork {
  width: number | null;
  height: number | null;
  format: string | null;
  failure_reason: string | null;
}

export function createImageState(
  db: Db,
  nodeId: string,
  wakeOutbox: () => void,
  /** Called once per milestone actually committed (a repeated one changes nothing and is not reported). */
  onMilestone: (event: ImageEventType) => void = () => undefined,
  backup?: BackupScheduling,
): ImageState {
  const backups = backup ? createBackupRecords(db, nodeId) : undefined;
  const get = db.prepare('SELECT * FROM objects WHERE uuid = ?');
  const pending = db.prepare("SELECT * FROM objects WHERE status = 'processing' ORDER BY created_at");
  // Writes go through the tables' owners; the reads here are the variant work's own views.
  const objects = nodeObjects(db);
  const outbox = outboxTable(db);
  const counts = db.prepare('SELECT status, count(*) AS n FROM objects GROUP BY status');

  const commit = db.transaction(
    (
      uuid: string,
      event: ImageEventType,
      next: { status: string; thumbs: 0 | 1; dims?: Dimensions; variants: VariantFileInfo[]; reason: string | null },
    ) => {
      const row = get.get(uuid) as Row | undefined;
      if (!row) return undefined;
      // A finished image never moves back (a duplicate run after ready/failed changes nothing).
      if (row.status !== 'processing') return undefined;
      const now = new Date();
      const dims = next.dims ?? { width: row.width, height: row.height, format: row.format };
      objects.setProcessing({
        uuid,
        status: next.status,
        thumbnails_ready: next.thumbs,
        width: dims.width,
        height: dims.height,
        format: dims.format,
        variants: JSON.stringify(next.variants),
        reason: next.reason,
        now: now.toISOString(),
      });
      const payload: ImageEvent = {
        event,
        image_uuid: uuid,
        node_id: nodeId,
        pool_id: row.pool_id,
        width: dims.width ?? null,
        height: dims.height ?? null,
        format: dims.format ?? null,
        variants: next.variants,
        reason: next.reason,
        at: now.toISOString(),
      };
      outbox.add(event, payload, now.getTime());
      // The original is what a backup protects, so a failed image is backed up too.
      const delayMs = next.status === 'processing' ? undefined : backup?.delayMsFor(row.pool_id);
      const backupDue = delayMs === undefined ? undefined : backups?.schedule(uuid, delayMs, now.getTime());
      return { backupDue };
    },
  );
  const run = (...args: Parameters<typeof commit>) => {
    const done = commit(...args);
    if (!done) return;
    wakeOutbox();
    onMilestone(args[1]);
    if (done.backupDue !== undefined) backup?.onScheduled?.(args[0], done.backupDue);
  };

  return {
    get: (uuid) => get.get(uuid) as ImageWork | undefined,
    pending: () => pending.all() as ImageWork[],
    thumbnailsReady: (uuid, dims, variants) =>
      run(uuid, 'image.thumbnails_ready', { status: 'processing', thumbs: 1, dims, variants, reason: null }),
    ready: (uuid, dims, variants) => run(uuid, 'image.ready', { status: 'ready', thumbs: 1, dims, variants, reason: null }),
    failed: (uuid, reason) => {
      const row = get.get(uuid) as Row | undefined;
      run(uuid, 'image.failed', {
        status: 'failed',
        thumbs: row?.thumbnails_ready ?? 0,
        variants: row ? (JSON.parse(row.variants) as VariantFileInfo[]) : [],
        reason,
      });
    },
    counts: () => Object.fromEntries((counts.all() as { status: string; n: number }[]).map((r) => [r.status, r.n])),
  };
}
