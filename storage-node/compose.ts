import type { Server } from 'node:http';
import path from 'node:path';
import type { HttpBindings } from '@hono/node-server';
import type { Hono } from 'hono';
import { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import type { ShutdownStep } from '../shared/shutdown.js';
import { buildApp } from './app.js';
import { composeNodeCore, type NodeCore } from './compose-core.js';
import type { NodeConfig } from './config.js';
import { walFile } from './db/open.js';
import { createStore, type NodeStore } from './db/store.js';
import { createTusRegistry } from './db/tus.js';
import { Heartbeat } from './heartbeat.js';
import { type NodeJobsSetup, setupNodeJobs } from './jobs/setup.js';
import type { WorkerMessage } from './jobs/worker-messages.js';
import { JobWorkerSupervisor } from './jobs/worker-supervisor.js';
import { CoordinatorKeys, NodeKeys, staticKeySource } from './jwks.js';
import { createMetrics, type NodeMetrics } from './metrics.js';
import { Outbox } from './outbox.js';
import { createRateLimit } from './rate-limit.js';
import { closeServer } from './server.js';
import { TusService } from './tus/service.js';
import { DirSync } from './upload/dir-sync.js';
import { dropRefusedUpload } from './upload/refused.js';
import { UploadTracker } from './upload/tracker.js';

/** The node's entry script and arguments, re-used to fork its job worker. */
export interface WorkerCommand {
  script: string;
  args: string[];
  execArgv: string[];
}

/** The daemon's deps graph: its app, and what main.ts starts once it listens and stops in order. */
export interface ComposedNode {
  core: NodeCore;
  app: Hono<{ Bindings: HttpBindings }>;
  metrics: NodeMetrics;
  store: NodeStore;
  /** Starts the heartbeat (with the URL the node is reachable at), outbox, queues, worker and sweeps. */
  start(publicUrl: string): void;
  /** Stop heartbeats → grace → stop accepting → finish uploads → worker → queues → outbox → Redis and SQLite. */
  stopSteps(server: Server): ShutdownStep[];
}

const IN_FLIGHT_MAX_MS = 30_000;
/** The job worker gets this long after its SIGTERM before it is killed (under systemd's 60 s TimeoutStopSec with the steps before it). */
const WORKER_STOP_MS = 50_000;

/** The storage node daemon built once from a validated config (pools already prepared). */
export function composeNode(cfg: NodeConfig, opts: { logger: Logger; worker: WorkerCommand; version: string }): ComposedNode {
  const { logger } = opts;
  const core = composeNodeCore(cfg, logger);
  const { db, dbFile, pools, keys } = core;
  const dirSync = new DirSync();
  const store = createStore(db);
  const metrics = createMetrics();
  const redis = nodeRedis(cfg.redisUrl);
  const outbox = new Outbox({
    store,
    logger,
    nodeId: cfg.nodeId,
    nodeKey: core.nodeKey.privateKey,
    coordinatorUrl: cfg.coordinatorUrl,
    maxBackoffMs: cfg.outboxMaxBackoffMs,
    onRefused: (row) => dropRefusedUpload({ store, pools }, row),
  });
  const jobs = setupNodeJobs({ cfg, db, logger, metrics, keys });
  const worker = new JobWorkerSupervisor({
    ...opts.worker,
    logger,
    onMessage: workerMessageHandler({ outbox, store, jobs, metrics }),
  });
  const coordinatorKeys = cfg.jwksFile
    ? undefined
    : new CoordinatorKeys({
        url: cfg.jwksUrl,
        cacheFile: path.join(cfg.stateDir, 'jwks-cache.json'),
        logger,
        allowInsecure: cfg.allowInsecureKeys,
      });
  const getKey = cfg.jwksFile ? staticKeySource(cfg.jwksFile) : coordinatorKeys!.getKey;
  // Peers' replication PUTs are checked against the coordinator's list of registered node keys.
  const nodeKeys = new NodeKeys({
    url: cfg.nodeKeysUrl,
    cacheFile: path.join(cfg.stateDir, 'node-keys-cache.json'),
    logger,
    allowInsecure: cfg.allowInsecureKeys,
  });
  const tracker = new UploadTracker((n) => metrics.activeUploads.set(n));
  const tus = new TusService({ pools, registry: createTusRegistry(db), expirationMs: cfg.tusExpirationMs, logger });
  const app = buildApp({
    nodeId: cfg.nodeId,
    getKey,
    tokenIssuer: cfg.tokenIssuer,
    clockSkewSeconds: cfg.clockSkewSeconds,
    pools,
    logger,
    store,
    dirSync,
    syncDb: () => dirSync.sync(walFile(dbFile)),
    rateLimit: createRateLimit({ redis, prefix: cfg.redisPrefix, pointsPerMinute: cfg.uploadRateIpPerMin }),
    metrics,
    tracker,
    wakeOutbox: () => outbox.wake(),
    onStored: jobs.onStored,
    tus,
    replication: { resolveNodeKey: nodeKeys.resolveNodeKey },
  });
  // The key sources fetch from the start: the first upload's token is checked against them.
  coordinatorKeys?.start();
  nodeKeys.start();

  let heartbeat: Heartbeat | undefined;
  let prune: NodeJS.Timeout | undefined;
  return {
    core,
    app,
    metrics,
    store,
    start(publicUrl) {
      heartbeat = new Heartbeat({
        redis,
        keys,
        logger,
        metrics,
        pools,
        store,
        nodeId: cfg.nodeId,
        version: opts.version,
        publicUrl,
        intervalMs: cfg.heartbeatIntervalMs,
        activeUploads: () => tracker.active,
        queueDepth: () => store.outboxPending(),
      });
      heartbeat.start();
      outbox.start();
      jobs.start();
      // External: systemd runs the worker in its own unit; without IPC the outbox still goes out
      // on its 1 s poll, but the worker's figures are not in this process's /metrics.
      if (cfg.workerMode === 'child') worker.start();
      else {
        logger.info('job worker runs outside this process (FENNEC_WORKER_MODE=external)');
        // No `objects-changed` message tells this process of the worker's moves and deletes:
        // its cached used-bytes figures are summed afresh from SQLite every 30 s instead.
        setInterval(() => store.forgetUsage(), 30_000).unref();
      }
      tus.start();
      prune = setInterval(() => store.pruneTokens(Math.floor(Date.now() / 1000) - cfg.clockSkewSeconds), 60_000);
      prune.unref();
    },
    stopSteps(server) {
      let serverClosed: Promise<void> = Promise.resolve();
      return [
        { name: 'heartbeat', run: () => heartbeat?.stop() },
        { name: 'grace', run: () => new Promise((r) => setTimeout(r, cfg.shutdownGraceMs)), timeoutMs: cfg.shutdownGraceMs + 1000 },
        {
          name: 'http',
          run: () => {
            serverClosed = closeServer(server);
          },
        },
        {
          name: 'uploads',
          run: async () => {
            const aborted = await tracker.drain(IN_FLIGHT_MAX_MS);
            if (aborted > 0) logger.warn({ aborted }, 'aborted uploads still running after the wait');
            // The last 201s may still be on their way out: give the connections a moment to finish.
            await Promise.race([serverClosed, new Promise((r) => setTimeout(r, 2000).unref())]);
            server.closeAllConnections();
          },
          timeoutMs: IN_FLIGHT_MAX_MS + 3000,
        },
        // Running variant jobs finish (their results go to the outbox) before the outbox stops.
        // The worker bounds its own drain (45 s, 2 s with Redis gone); SIGKILL if it still hangs.
        { name: 'job-worker', run: () => worker.stop(WORKER_STOP_MS), timeoutMs: WORKER_STOP_MS + 1000 },
        { name: 'jobs', run: () => jobs.close() },
        { name: 'outbox', run: () => outbox.stop() },
        { name: 'tus-sweep', run: () => tus.stop() },
        { name: 'prune', run: () => clearInterval(prune) },
        { name: 'jwks', run: () => coordinatorKeys?.stop() },
        { name: 'node-keys', run: () => nodeKeys.stop() },
        { name: 'redis', run: () => redis.quit().catch(() => redis.disconnect()) },
        { name: 'sqlite', run: () => db.close() },
      ];
    },
  };
}

/** Fail fast while Redis is down: heartbeats and rate limits must never queue behind it. */
function nodeRedis(url: string): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 1000),
  });
  redis.on('error', () => undefined); // reported by the heartbeat, once per outage
  redis.connect().catch(() => undefined);
  return redis;
}

/** What the job worker reports over IPC lands in this process's outbox, usage cache and metrics. */
function workerMessageHandler(ctx: { outbox: Outbox; store: NodeStore; jobs: NodeJobsSetup; metrics: NodeMetrics }) {
  const { outbox, store, jobs, metrics } = ctx;
  return (msg: WorkerMessage): void => {
    if (msg.t === 'outbox') outbox.wake();
    else if (msg.t === 'objects-changed') store.forgetUsage();
    else if (msg.t === 'finished') jobs.recordFinished(msg.kind, msg.outcome);
    else if (msg.t === 'processed') metrics.imagesProcessed.inc({ outcome: msg.outcome });
    else if (msg.t === 'encoded') metrics.variantEncodeDuration.observe({ variant: msg.variant }, msg.seconds);
    else if (msg.t === 'phase') metrics.variantPhaseDuration.observe({ phase: msg.phase }, msg.seconds);
    else if (msg.t === 'scrubbed') {
      metrics.scrubObjects.inc({ outcome: msg.outcome });
      metrics.scrubBytes.inc(msg.bytes);
    } else if (msg.t === 'scrub-pass') {
      metrics.scrubLastPass.set(msg.at);
      metrics.scrubPassDuration.set(msg.seconds);
    }
  };
}
