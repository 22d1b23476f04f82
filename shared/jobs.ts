import type { JobsOptions } from 'bullmq';
import { z } from 'zod';
import { type RestoreItem, restoreItemSchema } from './restore.js';

/**
 * Jobs in a node's queues (BullMQ). The node adds its own variant and backup jobs; the
 * coordinator adds the copy work it plans (replicate, move, delete, restore, backup_delete), since
 * it owns the object index those jobs change. Both build job ids and read the policy here, so the
 * same work added twice is one job and both sides agree on how it runs.
 */
export const JOB_KINDS = ['variants', 'replicate', 'move', 'backup', 'delete', 'restore', 'backup_delete'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** Variant work is split so a burst of uploads gets thumbnails before anyone's full-size encode. */
export const VARIANT_PHASES = ['thumbnails', 'full'] as const;
export type VariantPhase = (typeof VARIANT_PHASES)[number];

/**
 * A node's queues: `main` (image and copy work) and `backup`, its own lane and worker so uploads
 * to S3 neither wait behind image work nor hold it up.
 */
export const JOB_LANES = ['main', 'backup'] as const;
export type JobLane = (typeof JOB_LANES)[number];

/** Where a copy goes: a pool on a node, reached at the node's base URL (`http://host:port`). */
export interface CopyTarget {
  node_id: string;
  pool_id: string;
  url: string;
}

/** Makes the image's variants, one phase per job (the thumbnails job queues the full one). */
export interface VariantsJob {
  kind: 'variants';
  image_uuid: string;
  phase: VariantPhase;
}

/** Sends the original to another node, which makes its variants itself. */
export interface ReplicateJob {
  kind: 'replicate';
  image_uuid: string;
  target: CopyTarget;
}

/** Moves the original and its variants to `target`, as part of move `move_id`. */
export interface MoveJob {
  kind: 'move';
  image_uuid: string;
  move_id: string;
  target: CopyTarget;
}

/** Backs the original up to its pool's bucket (the node reads where from its own SQLite). */
export interface BackupJob {
  kind: 'backup';
  image_uuid: string;
}

/** Removes the copy in `pool_id` (a node may hold pools the image is not in). */
export interface DeleteJob {
  kind: 'delete';
  image_uuid: string;
  pool_id: string;
}

/** Brings the original back from S3 into `pool_id`, fetched with that pool's own S3 client. */
export interface RestoreJob {
  kind: 'restore';
  image_uuid: string;
  pool_id: string;
  /** The original's record and where S3 has it. */
  restore: Omit<RestoreItem, 'image_uuid'>;
}

/** Removes a deleted image's backup: `keys` (original and variants) in `bucket`, the backup target of `pool_id`. */
export interface BackupDeleteJob {
  kind: 'backup_delete';
  image_uuid: string;
  pool_id: string;
  backup: { bucket: string; keys: string[] };
}

export type JobData = VariantsJob | ReplicateJob | MoveJob | BackupJob | DeleteJob | RestoreJob | BackupDeleteJob;
export type JobOf<K extends JobKind> = Extract<JobData, { kind: K }>;

const imageUuid = z.string().min(1);
const copyTargetSchema = z.object({ node_id: z.string().min(1), pool_id: z.string().min(1), url: z.string().min(1) });

/**
 * One schema per kind: what a worker takes out of Redis is checked against it, since a payload
 * there may be older or foreign. A variants job without a phase (added before phases were
 * required) is its thumbnails phase, as it always ran.
 */
export const JOB_SCHEMAS = {
  variants: z.object({ kind: z.literal('variants'), image_uuid: imageUuid, phase: z.enum(VARIANT_PHASES).default('thumbnails') }),
  replicate: z.object({ kind: z.literal('replicate'), image_uuid: imageUuid, target: copyTargetSchema }),
  move: z.object({ kind: z.literal('move'), image_uuid: imageUuid, move_id: z.string().min(1), target: copyTargetSchema }),
  backup: z.object({ kind: z.literal('backup'), image_uuid: imageUuid }),
  delete: z.object({ kind: z.literal('delete'), image_uuid: imageUuid, pool_id: z.string().min(1) }),
  restore: z.object({
    kind: z.literal('restore'),
    image_uuid: imageUuid,
    pool_id: z.string().min(1),
    restore: restoreItemSchema.omit({ image_uuid: true }),
  }),
  backup_delete: z.object({
    kind: z.literal('backup_delete'),
    image_uuid: imageUuid,
    pool_id: z.string().min(1),
    backup: z.object({ bucket: z.string().min(1), keys: z.array(z.string().min(1)) }),
  }),
} satisfies { [K in JobKind]: z.ZodType<JobOf<K>, unknown> };

const S = JOB_SCHEMAS;
const jobDataSchema = z.discriminatedUnion('kind', [S.variants, S.replicate, S.move, S.backup, S.delete, S.restore, S.backup_delete]);

/** A payload read from Redis: the job it describes, or why it is not one. */
export function parseJobData(raw: unknown): { ok: true; data: JobData } | { ok: false; error: string } {
  const parsed = jobDataSchema.safeParse(raw);
  return parsed.success ? { ok: true, data: parsed.data } : { ok: false, error: z.prettifyError(parsed.error) };
}

/** How one kind of job runs. Variants jobs have one per phase. */
export interface JobPolicy {
  /** BullMQ priority within its lane: lower runs first. */
  priority: number;
  /** The node's queue it is added to and run from. */
  lane: JobLane;
  /** Runs before it fails for good. */
  attempts: number;
  /** Retry delay: `delayMs`, doubling each attempt, capped at `maxDelayMs` when set. */
  backoff: { delayMs: number; maxDelayMs?: number };
}

export type JobPolicyKey = Exclude<JobKind, 'variants'> | VariantPhase;

const retry = { attempts: 5, backoff: { delayMs: 2000 } };

/**
 * The one table of job policies, read by the coordinator (the options of the jobs it adds) and
 * the node (priorities, lanes). The node's own kinds (variants, backup) take attempts and backoff
 * from its config (FENNEC_JOB_*, FENNEC_BACKUP_*), whose defaults are these values.
 * Backups retry for hours with a capped backoff, so an S3 outage does not use them up.
 */
export const JOB_POLICY: Readonly<Record<JobPolicyKey, JobPolicy>> = {
  thumbnails: { priority: 1, lane: 'main', ...retry },
  full: { priority: 10, lane: 'main', ...retry },
  replicate: { priority: 20, lane: 'main', ...retry },
  restore: { priority: 20, lane: 'main', ...retry },
  move: { priority: 30, lane: 'main', ...retry },
  backup: { priority: 40, lane: 'backup', attempts: 50, backoff: { delayMs: 2000, maxDelayMs: 10 * 60 * 1000 } },
  delete: { priority: 50, lane: 'main', ...retry },
  backup_delete: { priority: 60, lane: 'main', ...retry },
};

export function policyOf(data: JobData): JobPolicy {
  return JOB_POLICY[data.kind === 'variants' ? data.phase : data.kind];
}

export function priorityOf(data: JobData): number {
  return policyOf(data).priority;
}

/**
 * BullMQ's retry options of a policy. `capped` is no BullMQ built-in: the node's worker defines
 * it (exponential up to the cap), and only the node's workers run jobs.
 */
export function retryOptions(policy: Pick<JobPolicy, 'attempts' | 'backoff'>): Pick<JobsOptions, 'attempts' | 'backoff'> {
  const { delayMs, maxDelayMs } = policy.backoff;
  return { attempts: policy.attempts, backoff: { type: maxDelayMs ? 'capped' : 'exponential', delay: delayMs } };
}

/**
 * Deterministic job id (image + kind [+ phase | target | move | pool]): adding the same work
 * again while it is queued or running is a no-op, so re-enqueueing everything pending is safe.
 * BullMQ forbids `:` in custom ids; uuids, kinds and pool ids have none.
 */
export function jobId(data: JobData): string {
  switch (data.kind) {
    case 'variants':
      return data.phase === 'full' ? `${data.image_uuid}-variants-full` : `${data.image_uuid}-variants`;
    case 'replicate':
      return `${data.image_uuid}-replicate-${data.target.pool_id}`;
    case 'move':
      return `${data.image_uuid}-move-${data.move_id}`;
    case 'delete':
      return `${data.image_uuid}-delete-${data.pool_id}`;
    case 'restore':
      return `${data.image_uuid}-restore-${data.pool_id}`;
    case 'backup':
    case 'backup_delete':
      return `${data.image_uuid}-${data.kind}`;
  }
}
