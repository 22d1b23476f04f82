import type { JobData } from '../../shared/jobs.js';

export { JOB_KINDS, PRIORITY, jobId, priorityOf, type JobData, type JobKind, type VariantPhase } from '../../shared/jobs.js';

/** The job data that finishes an image's variant work from where SQLite says it stands. */
export function nextVariantJob(w: { uuid: string; thumbnails_ready: number }): JobData {
  return { kind: 'variants', image_uuid: w.uuid, phase: w.thumbnails_ready ? 'full' : 'thumbnails' };
}
