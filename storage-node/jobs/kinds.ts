/** Every kind of job a node's queue carries; later issues fill in all but `variants`. */
export const JOB_KINDS = ['variants', 'replicate', 'move', 'backup', 'delete'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** Variant work is split so a burst of uploads gets thumbnails before anyone's full-size encode. */
export type VariantPhase = 'thumbnails' | 'full';

export interface JobData {
  kind: JobKind;
  image_uuid: string;
  phase?: VariantPhase;
}

/** BullMQ priorities: lower runs first. */
export const PRIORITY: Record<string, number> = { thumbnails: 1, full: 10, replicate: 20, move: 30, backup: 40, delete: 50 };

/**
 * Deterministic job id (image + kind [+ phase]): adding the same work again while it is queued
 * or running is a no-op, so re-enqueueing everything pending after a reconnect is safe.
 * BullMQ forbids `:` in custom ids; uuids and kinds have none.
 */
export function jobId(data: JobData): string {
  return data.phase === 'full' ? `${data.image_uuid}-${data.kind}-full` : `${data.image_uuid}-${data.kind}`;
}

export function priorityOf(data: JobData): number {
  return PRIORITY[data.phase ?? data.kind] ?? 100;
}

/** The job data that finishes an image's variant work from where SQLite says it stands. */
export function nextVariantJob(w: { uuid: string; thumbnails_ready: number }): JobData {
  return { kind: 'variants', image_uuid: w.uuid, phase: w.thumbnails_ready ? 'full' : 'thumbnails' };
}
