import { type Job, type JobsOptions, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { Counter, Gauge, type Registry } from 'prom-client';
import { isAppError } from '../../shared/errors.js';
import { isSignedKind } from '../../shared/job-signature.js';
import { retryOptions } from '../../shared/jobs.js';
import type { Logger } from '../../shared/logger.js';
import type { RedisKeys } from '../../shared/redis-keys.js';
import { type JobData, type JobKind, type JobLane, type JobOf, jobId, parseJobData, policyOf } from './kinds.js';

/** Runs one kind of job; it gets the payload parsed, so it narrows nothing itself. */
export type JobHandler<K extends JobKind = JobKind> = (job: Job<JobOf<K>>) => Promise<unknown>;
export type JobHandlers = { [K in JobKind]?: JobHandler<K> };

export interface NodeJobsOptions {
  /**
   * `queue` (the node's main process): adds jobs, rebuilds the queue from SQLite, reports counts.
   * `worker` (the `fennec-node worker` child): runs the handlers. Image work lives in its own
   * process so libvips' memory and a crash on a hostile image never touch the upload path.
   * `both`: one process doing both (tests).
   */
  role: 'queue' | 'worker' | 'both';
  /** Worker role: a job run ended (completed, retried or failed for good). */
  onFinished?: (kind: JobKind, outcome: 'completed' | 'retried' | 'failed') => void;
  /** ioredis with `maxRetriesPerRequest: null` (BullMQ workers require it); main.ts builds it. */
  connection: Redis;
  keys: RedisKeys;
  nodeId: string;
  logger: Logger;
  handlers: JobHandlers;
  /** Work the node's SQLite says is not done: the queue is rebuilt from it. */
  pending: () => JobData[];
  concurrency: number;
  attempts: number;
  backoffMs: number;
  /** Lock on a running job; a worker killed mid-job has its job picked up once this passes. */
  lockMs: number;
  /** How often the node checks that Redis still holds its queue (FLUSHALL, restart without persistence). */
  markerCheckMs: number;
  /**
   * Worker role: a job still running this long after it started is overrun (0/unset: no limit)
   * and `onOverrun` is called. A libvips encode cannot be stopped from JS, so the worker process
   * ends itself there (worker-process.ts): its jobs stall, and stalled-job recovery runs them
   * again, or fails them for good after maxStalledCount (then `onFailed`).
   */
  timeoutMs?: number;
  onOverrun?: (job: { id: string | undefined; kind: string; ms: number }) => void;
  registry?: Registry;
  /**
   * A job ended failed for good, however it got there — including a job BullMQ failed because
   * its worker died too often (maxStalledCount), which no handler code sees.
   */
  onFailed?: (data: JobData, reason: string) => void;
  /**
   * Which of the node's queues this is (default `main`). Another lane (`jobs-{node}-backup`, its
   * own marker) has its own worker and concurrency, so its jobs never wait behind image work;
   * each kind's lane is in JOB_POLICY.
   */
  lane?: JobLane;
  /** Per-job options over the queue defaults, used on every add and resync (backup: delay until due). */
  jobOptions?: (data: JobData) => JobsOptions;
  /** Also re-add everything pending this often (0/unset: only on start, reconnect, lost marker). */
  resyncEveryMs?: number;
  /** Cap of the exponential retry backoff (ms); unset: uncapped BullMQ exponential. */
  maxBackoffMs?: number;
  /**
   * Worker role: checks the coordinator's signature on a job of a signed kind (job-auth.ts) and
   * returns the payload that was signed. Unset: such jobs are refused, as nothing can check them.
   */
  verifySigned?: (raw: unknown, jobId: string | undefined) => Promise<unknown>;
}

export const JOB_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'] as const;

/**
 * This node's BullMQ queue and worker. The node's SQLite is the truth: on start, on every Redis
 * reconnect and whenever the queue marker has vanished, every pending image is added again under
 * its deterministic id (a no-op for jobs Redis still has).
 */
export class NodeJobs {
  readonly queue: Queue<JobData>;
  readonly #opts: NodeJobsOptions;
  #worker: Worker<JobData> | undefined;
  #finished: Counter<'kind' | 'outcome'> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  readonly #marker: string;
  #resyncing: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  readonly #onReady = () => void this.resync('redis ready');

  constructor(opts: NodeJobsOptions) {
    this.#opts = opts;
    this.#marker = opts.keys.queueMarker(opts.nodeId, opts.lane);
    this.queue = new Queue<JobData>(opts.keys.nodeQueue(opts.nodeId, opts.lane), {
      connection: opts.connection,
      prefix: opts.keys.queuePrefix(),
      defaultJobOptions: {
        ...retryOptions({ attempts: opts.attempts, backoff: { delayMs: opts.backoffMs, maxDelayMs: opts.maxBackoffMs } }),
        // Completed jobs go (SQLite records the result); failed ones stay a week for the operator.
        removeOnComplete: true,
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    });
    this.queue.on('error', () => undefined); // Redis outages are reported by the heartbeat
    if (opts.registry) this.#registerGauge(opts.registry);
  }

  start(): void {
    if (this.#opts.role !== 'queue') this.#startWorker();
    if (this.#opts.role === 'worker') return;
    this.#opts.connection.on('ready', this.#onReady);
    void this.resync('start');
    this.#timer = setInterval(() => void this.#checkMarker(), this.#opts.markerCheckMs);
    this.#timer.unref();
    if (this.#opts.resyncEveryMs) {
      this.#resyncTimer = setInterval(() => void this.resync('periodic'), this.#opts.resyncEveryMs);
      this.#resyncTimer.unref();
    }
  }

  /** Counts a job run the worker process reported (queue role: the counter lives here). */
  recordFinished(kind: JobKind, outcome: 'completed' | 'retried' | 'failed'): void {
    this.#finished?.inc({ kind, outcome });
  }

  #startWorker(): void {
    const opts = this.#opts;
    this.#worker = new Worker<JobData>(
      this.queue.name,
      async (job) => {
        job.data = await this.#accepted(job.data, job.id);
        // Parsed and checked above: the handler of a kind gets that kind's payload.
        const handler = opts.handlers[job.data.kind] as JobHandler | undefined;
        if (!handler) throw new Error(`no handler for ${job.data.kind} jobs on this node yet`);
        const ms = opts.timeoutMs ?? 0;
        const kind = job.data.kind;
        const overrun = ms > 0 ? setTimeout(() => opts.onOverrun?.({ id: job.id, kind, ms }), ms) : undefined;
        try {
          return await handler(job);
        } finally {
          clearTimeout(overrun);
        }
      },
      {
        connection: opts.connection,
        prefix: opts.keys.queuePrefix(),
        concurrency: opts.concurrency,
        lockDuration: opts.lockMs,
        stalledInterval: opts.lockMs,
        maxStalledCount: 2,
        settings: {
          backoffStrategy: (attemptsMade: number) =>
            Math.min(opts.backoffMs * 2 ** Math.max(0, attemptsMade - 1), opts.maxBackoffMs ?? Infinity),
        },
      },
    );
    this.#worker.on('error', (err) => opts.logger.warn({ err: err.message }, 'job worker error'));
    const finished = (kind: JobKind, outcome: 'completed' | 'retried' | 'failed') => {
      this.recordFinished(kind, outcome);
      opts.onFinished?.(kind, outcome);
    };
    this.#worker.on('completed', (job) => finished(job.data.kind, 'completed'));
    this.#worker.on('failed', (job, err) => {
      opts.logger.warn({ job_id: job?.id, attempts: job?.attemptsMade, err: err.message }, 'job failed');
      // A payload that is no job of ours has no kind to count and nothing for onFailed.
      const parsed = job ? parseJobData(job.data) : undefined;
      if (!job || !parsed?.ok) return;
      void job
        .isFailed()
        .then((final) => {
          finished(parsed.data.kind, final ? 'failed' : 'retried');
          if (final) opts.onFailed?.(parsed.data, err.message);
        })
        .catch(() => undefined);
    });
  }

  /**
   * What Redis holds may be older or foreign: a payload that does not parse, or a kind that runs
   * in another lane, fails for good instead of crashing a handler on a missing field. Redis is
   * no trust boundary either: a kind the coordinator adds runs only as the coordinator signed it.
   */
  async #accepted(raw: unknown, id: string | undefined): Promise<JobData> {
    const kind = (raw as { kind?: unknown } | null)?.kind;
    if (isSignedKind(kind)) raw = await this.#signed(raw, id, String(kind));
    const parsed = parseJobData(raw);
    if (!parsed.ok) throw new UnrecoverableError(`not a valid job payload: ${parsed.error}`);
    const lane = this.#opts.lane ?? 'main';
    if (policyOf(parsed.data).lane !== lane)
      throw new UnrecoverableError(`${parsed.data.kind} jobs run in the ${policyOf(parsed.data).lane} lane, not in ${lane}`);
    return parsed.data;
  }

  async #signed(raw: unknown, id: string | undefined, kind: string): Promise<unknown> {
    const verify = this.#opts.verifySigned;
    if (!verify) throw new UnrecoverableError(`${kind} jobs are signed by the coordinator and nothing here checks them`);
    try {
      return await verify(raw, id);
    } catch (err) {
      // The coordinator's keys out of reach: try again later. Anything else is a forgery or stale.
      if (isAppError(err) && err.retryable) throw err;
      throw new UnrecoverableError(`refused ${kind} job ${id}: ${(err as Error).message}`);
    }
  }

  /** Adds one job; resolves false when Redis is down (the resync after reconnect adds it). */
  async enqueue(data: JobData): Promise<boolean> {
    try {
      await this.queue.add(data.kind, data, this.#jobOpts(data));
      return true;
    } catch (err) {
      this.#opts.logger.debug({ err: (err as Error).message, job_id: jobId(data) }, 'enqueue failed; resync will add it');
      return false;
    }
  }

  #jobOpts(data: JobData): JobsOptions {
    return { jobId: jobId(data), priority: policyOf(data).priority, ...this.#opts.jobOptions?.(data) };
  }

  /** Fire and forget, for the upload path: a 201 never waits for Redis. */
  enqueueSoon(data: JobData): void {
    void this.enqueue(data);
  }

  async resync(reason: string): Promise<void> {
    this.#resyncing ??= this.#resync(reason).finally(() => {
      this.#resyncing = undefined;
    });
    return this.#resyncing;
  }

  async #resync(reason: string): Promise<void> {
    const { opts } = { opts: this.#opts };
    try {
      // Marker first: a FLUSHALL after this point removes it again and triggers another resync.
      await opts.connection.set(this.#marker, String(Date.now()));
      const pending = opts.pending();
      for (let i = 0; i < pending.length; i += 500) {
        const batch = pending.slice(i, i + 500);
        await this.queue.addBulk(batch.map((data) => ({ name: data.kind, data, opts: this.#jobOpts(data) })));
      }
      opts.logger.info({ reason, pending: pending.length }, 'job queue resynced from SQLite');
    } catch (err) {
      opts.logger.warn({ reason, err: (err as Error).message }, 'job queue resync failed; retrying on reconnect');
      await opts.connection.del(this.#marker).catch(() => undefined);
    }
  }

  async #checkMarker(): Promise<void> {
    const { opts } = { opts: this.#opts };
    try {
      if ((await opts.connection.exists(this.#marker)) === 0) await this.resync('queue marker missing');
    } catch {
      // Redis down: the 'ready' event resyncs when it is back
    }
  }

  /** Counts per state, for /metrics and the heartbeat. */
  async counts(): Promise<Record<string, number>> {
    return (await this.queue.getJobCounts(...JOB_STATES)) as Record<string, number>;
  }

  #registerGauge(registry: Registry): void {
    const jobs = this;
    // Every kind is counted by the worker, so replicate/backup/move jobs show here once they exist.
    this.#finished = new Counter({
      name: 'fennec_node_jobs_finished_total',
      help: 'Job runs by kind and outcome: completed, retried (an attempt failed, another follows), failed (for good)',
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    });
    new Gauge({
      name: 'fennec_node_jobs',
      help: "Jobs in this node's queue, by state (empty while Redis is unreachable)",
      labelNames: ['state'],
      registers: [registry],
      async collect() {
        this.reset();
        const counts = await Promise.race([
          jobs.counts().catch(() => undefined),
          new Promise<undefined>((r) => setTimeout(() => r(undefined), 500).unref()),
        ]);
        for (const [state, n] of Object.entries(counts ?? {})) this.set({ state }, n);
      },
    });
  }

  /** Stops taking jobs and waits for running ones (a SIGTERM drains); safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#timer);
      clearInterval(this.#resyncTimer);
      this.#opts.connection.off('ready', this.#onReady);
      try {
        await this.#worker?.close();
      } catch (err) {
        this.#opts.logger.warn({ err: (err as Error).message }, 'closing the job worker failed');
      }
      try {
        await this.queue.close();
      } catch (err) {
        this.#opts.logger.warn({ err: (err as Error).message }, 'closing the job queue failed');
      }
    })();
    return this.#closing;
  }
}
