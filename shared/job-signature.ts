import { type JWTVerifyGetKey, jwtVerify, SignJWT } from 'jose';
import { errors, isAppError } from './errors.js';
import { type JobData, type JobKind, jobId } from './jobs.js';
import type { SigningKey } from './tokens.js';

/**
 * The kinds the coordinator adds to a node's queue. Redis is no trust boundary (anyone who can
 * write to it could queue them), so each carries the coordinator's signature over its whole
 * payload and the node's worker refuses one without a valid one. The node's own kinds (variants,
 * backup) are unsigned: a forged one only makes the node re-process or re-back-up an image it
 * already stores, to where its own config says.
 */
export const SIGNED_JOB_KINDS: ReadonlySet<JobKind> = new Set(['replicate', 'move', 'delete', 'restore', 'backup_delete']);

export const JOB_TOKEN_TYP = 'fennec-job+jwt';
const PURPOSE_JOB = 'job';

/**
 * How long a signed job stays valid. The coordinator re-adds a failed job with a fresh
 * signature on its next durability tick, so an expired one costs one round of retries, while
 * BullMQ's own retries (5 attempts from 2 s, doubling) end within a minute: a day covers a
 * node that was down or backlogged for hours, and bounds how long a captured job can be replayed.
 */
export const JOB_TOKEN_TTL_SECONDS = 24 * 3600;

/** A coordinator-added job as it sits in Redis: the payload, readable, and its signature. */
export type SignedJobData = JobData & { sig: string };

export function isSignedKind(kind: unknown): boolean {
  return typeof kind === 'string' && SIGNED_JOB_KINDS.has(kind as JobKind);
}

/**
 * Signs a job for `nodeId`: a compact JWS (EdDSA, the coordinator's current `kid`) whose `job`
 * claim is the payload itself and whose `jti` is the job's deterministic id, so the node acts on
 * exactly what was signed, for itself, under that id.
 */
export async function signJob(
  data: JobData,
  opts: { issuer: string; nodeId: string; key: SigningKey; kid: string; ttlSeconds?: number; now?: number },
): Promise<SignedJobData> {
  const now = Math.floor((opts.now ?? Date.now()) / 1000);
  const sig = await new SignJWT({ job: data })
    .setProtectedHeader({ alg: 'EdDSA', kid: opts.kid, typ: JOB_TOKEN_TYP })
    .setIssuer(opts.issuer)
    .setAudience(opts.nodeId)
    .setSubject(PURPOSE_JOB)
    .setJti(jobId(data))
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.ttlSeconds ?? JOB_TOKEN_TTL_SECONDS))
    .sign(opts.key);
  return { ...data, sig };
}

/**
 * Checks a coordinator-added job taken from Redis and returns the payload that was signed (the
 * unsigned fields beside it are ignored). A 401 AppError when it is unsigned, signed by another
 * key, for another node, expired, or filed under another job id; a retryable 503 when the
 * coordinator's keys cannot be fetched.
 */
export async function verifyJob(
  raw: unknown,
  opts: { nodeId: string; jobId: string | undefined; getKey: JWTVerifyGetKey; issuer?: string; clockToleranceSeconds: number },
): Promise<unknown> {
  const sig = (raw as { sig?: unknown } | null)?.sig;
  if (typeof sig !== 'string') throw errors.unauthorized('unsigned_job', 'the job carries no coordinator signature');
  try {
    const { payload } = await jwtVerify(sig, opts.getKey, {
      algorithms: ['EdDSA'],
      audience: opts.nodeId,
      issuer: opts.issuer,
      subject: PURPOSE_JOB,
      typ: JOB_TOKEN_TYP,
      clockTolerance: opts.clockToleranceSeconds,
      requiredClaims: ['exp', 'iat', 'jti', 'aud', 'sub'],
    });
    const job = payload.job as JobData | undefined;
    if (!job || typeof job !== 'object') throw errors.unauthorized('invalid_job', 'the signature carries no job');
    if (payload.jti !== opts.jobId || jobId(job) !== opts.jobId)
      throw errors.unauthorized('invalid_job', `the signature is for job ${String(payload.jti)}, not ${opts.jobId}`);
    return job;
  } catch (err) {
    if (isAppError(err)) throw err;
    const name = (err as Error).name;
    if (name === 'JWKSTimeout') throw errors.unavailable('jwks_unavailable', 'cannot fetch the coordinator keys', err);
    throw errors.unauthorized('invalid_job', `job signature refused: ${(err as Error).message}`, err);
  }
}
