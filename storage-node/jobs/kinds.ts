import type { VariantsJob } from '../../shared/jobs.js';

export {
  JOB_KINDS,
  JOB_POLICY,
  type JobData,
  type JobKind,
  type JobLane,
  type JobOf,
  jobId,
  parseJobData,
  policyOf,
  priorityOf,
  type VariantPhase,
} from '../../shared/jobs.js';

/** The job data that finishes an image's variant work from where SQLite says it stands. */
export function nextVariantJob(w: { uuid: string; thumbnails_ready: number }): VariantsJob {
  return { kind: 'variants', image_uuid: w.uuid, phase: w.thumbnails_ready ? 'full' : 'thumbnails' };
}
