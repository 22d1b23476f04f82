import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import { redisKeys } from '../../shared/redis-keys.js';
import { eventually } from '../../test/support/eventually.js';
import { startRedisServer, type TestRedis } from '../../test/support/redis-server.js';
import type { JobData } from './kinds.js';
import { type JobHandler, NodeJobs, type NodeJobsOptions } from './queue.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const until = async (fn: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe('NodeJobs against a real redis-server', () => {
  let server: TestRedis;
  const open: { jobs: NodeJobs; conn: Redis }[] = [];
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    for (const o of open) {
      await o.jobs.close();
      o.conn.disconnect();
    }
    await server?.stop();
  });

  // Signatures are checked in shared/job-signature.test.ts and test/redis-trust.test.ts; here every signed kind passes as is.
  const passThrough: NodeJobsOptions['verifySigned'] = async (raw) => raw;

  function make(
    handler: JobHandler<'variants'>,
    pending: () => JobData[] = () => [],
    verifySigned = passThrough,
    extra: Partial<NodeJobsOptions> = {},
  ) {
    const conn = new Redis(server.url, { maxRetriesPerRequest: null });
    const jobs = new NodeJobs({
      role: 'both',
      connection: conn,
      keys: redisKeys(`t${randomUUID().slice(0, 8)}:`),
      nodeId: 's01',
      logger,
      handlers: { variants: handler },
      pending,
      concurrency: 1,
      attempts: 3,
      backoffMs: 50,
      lockMs: 1000,
      markerCheckMs: 100,
      verifySigned,
      ...extra,
    });
    open.push({ jobs, conn });
    return { jobs, conn };
  }

  it('runs a job once however often it is added (deterministic ids), retries with backoff', async () => {
    const runs: string[] = [];
    let failures = 0;
    const { jobs } = make(async (job) => {
      if (job.data.image_uuid === 'flaky' && failures++ < 2) throw new Error('transient');
      runs.push(`${job.data.image_uuid}#${job.attemptsMade}`);
    });
    const data: JobData = { kind: 'variants', image_uuid: 'a', phase: 'thumbnails' };
    await Promise.all([jobs.enqueue(data), jobs.enqueue(data), jobs.enqueue(data)]);
    await jobs.enqueue({ kind: 'variants', image_uuid: 'flaky', phase: 'thumbnails' });
    jobs.start();
    await until(() => runs.length === 2);
    expect(runs).toEqual(['a#0', 'flaky#2']);
    expect(await jobs.counts()).toMatchObject({ waiting: 0, active: 0, failed: 0 });
  });

  it('re-adds every pending image after FLUSHALL (the marker is gone)', async () => {
    const pending = new Set(['p1', 'p2', 'p3']);
    const seen: string[] = [];
    let gate!: () => void;
    const opened = new Promise<void>((r) => (gate = r));
    const { jobs, conn } = make(
      async (job) => {
        await opened;
        seen.push(job.data.image_uuid);
        pending.delete(job.data.image_uuid);
      },
      () => [...pending].map((id) => ({ kind: 'variants', image_uuid: id, phase: 'thumbnails' })),
    );
    jobs.start();
    const queued = async () => Object.values(await jobs.counts()).reduce((a, b) => a + b, 0);
    await eventually(async () => (await queued()) === 3, 10_000, 'the three images queued from SQLite at start');
    await conn.flushall();
    gate();
    await until(() => pending.size === 0, 15_000);
    expect(new Set(seen)).toEqual(new Set(['p1', 'p2', 'p3']));
  });

  const failedReasons = async (jobs: NodeJobs, n: number) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const failed = await jobs.queue.getFailed();
      if (failed.length >= n) return failed.map((j) => ({ id: j.id, reason: j.failedReason, attempts: j.attemptsMade }));
      if (Date.now() > deadline) throw new Error('jobs never failed');
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('a payload that is not a job of its kind (older, foreign) fails for good at the worker, never reaching a handler', async () => {
    const ran: string[] = [];
    const { jobs } = make(async (job) => void ran.push(job.data.image_uuid));
    // Straight into Redis, as an older release or another writer would have put them.
    await jobs.queue.add('delete', { kind: 'delete', image_uuid: 'd1' } as never, { jobId: 'bad-delete' });
    await jobs.queue.add('nonsense', { kind: 'thumbnail', image_uuid: 'x' } as never, { jobId: 'bad-kind' });
    await jobs.queue.add('backup', { kind: 'backup', image_uuid: 'b1' }, { jobId: 'other-lane' });
    jobs.start();
    const failed = await failedReasons(jobs, 3);
    const byId = Object.fromEntries(failed.map((f) => [f.id, f]));
    expect(byId['bad-delete']!.reason).toMatch(/not a valid job payload.*pool_id/s);
    expect(byId['bad-kind']!.reason).toMatch(/not a valid job payload/);
    expect(byId['other-lane']!.reason).toMatch(/backup jobs run in the backup lane, not in main/);
    // Unrecoverable: one attempt each, though the queue allows three.
    expect(failed.map((f) => f.attempts)).toEqual([1, 1, 1]);
    expect(ran).toEqual([]);
  });

  it('a variants payload without a phase (added before phases were required) runs as its thumbnails phase', async () => {
    const phases: string[] = [];
    const { jobs } = make(async (job) => void phases.push(job.data.phase));
    await jobs.queue.add('variants', { kind: 'variants', image_uuid: 'old' } as never, { jobId: 'old-variants' });
    jobs.start();
    await until(() => phases.length === 1);
    expect(phases).toEqual(['thumbnails']);
  });

  it('a job without a handler yet (replicate, move…) fails with a reason instead of hanging', async () => {
    const { jobs } = make(async () => undefined);
    await jobs.enqueue({ kind: 'replicate', image_uuid: 'r1', target: { node_id: 's02', pool_id: 'p2', url: 'http://s02.test' } });
    jobs.start();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const failed = await jobs.queue.getFailed();
      if (failed.length === 1) {
        expect(failed[0]!.failedReason).toMatch(/no handler for replicate/);
        break;
      }
      if (Date.now() > deadline) throw new Error('job never failed');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it('a coordinator kind whose signature is refused fails for good without reaching a handler; an unreachable key set retries', async () => {
    let calls = 0;
    const { jobs } = make(
      async () => undefined,
      () => [],
      async () => {
        if (calls++ === 0) throw errors.unavailable('jwks_unavailable', 'cannot fetch the coordinator keys');
        throw errors.unauthorized('unsigned_job', 'the job carries no coordinator signature');
      },
    );
    await jobs.enqueue({ kind: 'delete', image_uuid: 'd2', pool_id: 'p1' });
    jobs.start();
    const [failed] = await failedReasons(jobs, 1);
    expect(failed!.reason).toMatch(/refused delete job .*no coordinator signature/);
    expect(failed!.attempts).toBe(2);
  });

  it('a job running past timeoutMs is reported overrun (the worker process ends there); a quick one is not', async () => {
    const overruns: { id: string | undefined; kind: string; ms: number }[] = [];
    const done: string[] = [];
    let release!: () => void;
    const hung = new Promise<void>((r) => (release = r));
    const { jobs } = make(
      async (job) => {
        if (job.data.image_uuid === 'huge') await hung; // an encode that would run on
        done.push(job.data.image_uuid);
      },
      () => [],
      passThrough,
      { timeoutMs: 300, onOverrun: (o) => overruns.push(o) },
    );
    await jobs.enqueue({ kind: 'variants', image_uuid: 'quick', phase: 'thumbnails' });
    await jobs.enqueue({ kind: 'variants', image_uuid: 'huge', phase: 'thumbnails' });
    jobs.start();
    await until(() => overruns.length === 1);
    expect(overruns[0]).toMatchObject({ kind: 'variants', ms: 300 });
    expect(done).toEqual(['quick']);
    release();
    await until(() => done.length === 2);
    await new Promise((r) => setTimeout(r, 400));
    expect(overruns).toHaveLength(1); // the timer of a finished job is cleared
  });
});
