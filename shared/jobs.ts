import type { RestoreItem } from './restore.js';

/**
 * Jobs in a node's queue (`jobs-{node_id}`, BullMQ). The node adds its own variant jobs; the
 * coordinator adds the copy work it plans (replicate, move, delete, restore, backup_delete), since it owns the object
 * index those jobs change. Both build job ids here, so the same work added twice is one job.
 */
export const JOB_KINDS = ['variants', 'replicate', 'move', 'backup', 'delete', 'restore', 'backup_delete'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** Variant work is split so a burst of uploads gets thumbnails before anyone's full-size encode. */
export type VariantPhase = 'thumbnails' | 'full';

/** Where a copy goes: a pool on a node, reached at the node's base URL (`http://host:port`). */
export interface CopyTarget {
  node_id: string;
  pool_id: string;
  url: string;
}

export interface JobData {
  kind: JobKind;
  image_uuid: string;
  phase?: VariantPhase;
  /** replicate, move: where the original (and, for a move, its variants) go. */
  target?: CopyTarget;
  /** move: the move this object belongs to. */
  move_id?: string;
  /** delete: the pool whose copy goes (a node may hold pools the image is not in); restore: the pool it comes back to. */
  pool_id?: string;
  /** restore: the original's record and where S3 has it (fetched with the pool's own S3 client). */
  restore?: Omit<RestoreItem, 'image_uuid'>;
  /** backup_delete: the keys of a deleted image's backup (original and variants) in the bucket of `pool_id`'s target. */
  backup?: { bucket: string; keys: string[] };
}

/** BullMQ priorities: lower runs first. */
export const PRIORITY: Record<string, number> = { thumbnails: 1, full: 10, replicate: 20, restore: 20, move: 30, backup: 40, delete: 50, backup_delete: 60 };

/**
 * Deterministic job id (image + kind [+ phase | target | move]): adding the same work again
 * while it is queued or running is a no-op, so re-enqueueing everything pending is safe.
 * BullMQ forbids `:` in custom ids; uuids, kinds and pool ids have none.
 */
export function jobId(data: JobData): string {
  switch (data.kind) {
    case 'variants':
      return data.phase === 'full' ? `${data.image_uuid}-variants-full` : `${data.image_uuid}-variants`;
    case 'replicate':
      return `${data.image_uuid}-replicate-${data.target?.pool_id ?? ''}`;
    case 'move':
      return `${data.image_uuid}-move-${data.move_id ?? ''}`;
    case 'delete':
      return `${data.image_uuid}-delete-${data.pool_id ?? ''}`;
    case 'restore':
      return `${data.image_uuid}-restore-${data.pool_id ?? ''}`;
    default:
      return `${data.image_uuid}-${data.kind}`;
  }
}

export function priorityOf(data: JobData): number {
  return PRIORITY[data.phase ?? data.kind] ?? 100;
}
