#!/usr/bin/env -S node --max-semi-space-size=1
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { ConfigError, parseConfig, readEnvironment } from '../shared/config.js';
import { loadOrCreateEd25519Key } from '../shared/keys.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { redisKeys } from '../shared/redis-keys.js';
import { buildApp } from './app.js';
import { initConfigSchema, nodeConfigSchema, type NodeConfig } from './config.js';
import { openDb, walFile } from './db/open.js';
import { Heartbeat } from './heartbeat.js';
import { setupNodeJobs } from './jobs/setup.js';
import { JobWorkerSupervisor } from './jobs/worker-supervisor.js';
import { CoordinatorKeys, NodeKeys, staticKeySource } from './jwks.js';
import { createMetrics } from './metrics.js';
import { Outbox } from './outbox.js';
import { PoolSet, PoolSetupError, preparePool } from './pools.js';
import { createRateLimit } from './rate-limit.js';
import { closeServer, listen } from './server.js';
import { createShutdown } from './shutdown.js';
import { createStore } from './db/store.js';
import { createTusRegistry } from './db/tus.js';
import { TusService } from './tus/service.js';
import { DirSync } from './upload/dir-sync.js';
import { UploadTracker } from './upload/tracker.js';
import { dropRefusedUpload } from './upload/refused.js';

const IN_FLIGHT_MAX_MS = 30_000;
/** The job worker gets this long after its SIGTERM before it is killed (under systemd's 60 s TimeoutStopSec with the steps before it). */
const WORKER_STOP_MS = 50_000;

function version(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      // try the next layout (source vs dist)
    }
  }
  return '0.0.0';
}

/** `fennec-node init`: identity key and pool markers, then one JSON line for registration. */
function init(env: Record<string, string | undefined>): void {
  const cfg = parseConfig(initConfigSchema, env);
  const key = loadOrCreateEd25519Key(cfg.nodeKeyFile);
  for (const pool of cfg.pools) preparePool(pool);
  process.stdout.write(`${JSON.stringify({ node_id: cfg.nodeId, public_key: key.publicJwk })}\n`);
}

async function run(cfg: NodeConfig, logger: Logger): Promise<void> {
  for (const pool of cfg.pools) {
    const removed = preparePool(pool);
    if (removed > 0) logger.warn({ pool_id: pool.id, removed }, 'removed partial uploads of a previous process');
  }
  const nodeKey = loadOrCreateEd25519Key(cfg.nodeKeyFile);
  if (nodeKey.created) logger.info({ file: cfg.nodeKeyFile }, 'created node identity key');
  const dbFile = path.join(cfg.stateDir, 'node.db');
  const db = openDb(dbFile);
  const dirSync = new DirSync();
  const store = createStore(db);
  const pools = new PoolSet(cfg.pools, cfg.s3Pools);
  const metrics = createMetrics();
  const keys = redisKeys(cfg.redisPrefix);
  // Fail fast while Redis is down: heartbeats and rate limits must never queue behind it.
  const redis = new Redis(cfg.redisUrl, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 1000),
  });
  redis.on('error', () => undefined); // reported by the heartbeat, once per outage
  redis.connect().catch(() => undefined);

  const outbox = new Outbox({
    store,
    logger,
    nodeId: cfg.nodeId,
    nodeKey: nodeKey.privateKey,
    coordinatorUrl: cfg.coordinatorUrl,
    maxBackoffMs: cfg.outboxMaxBackoffMs,
    onRefused: (row) => dropRefusedUpload({ store, pools }, row),
  });
  const jobs = setupNodeJobs({ cfg, db, logger, metrics, keys });
  const worker = new JobWorkerSupervisor({
    script: fileURLToPath(import.meta.url),
    args: process.argv.slice(2),
    execArgv: process.execArgv,
    logger,
    onMessage: (msg) => {
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
    },
  });
  const coordinatorKeys = cfg.jwksFile
    ? undefined
    : new CoordinatorKeys({ url: cfg.jwksUrl, cacheFile: path.join(cfg.stateDir, 'jwks-cache.json'), logger });
  coordinatorKeys?.start();
  const getKey = cfg.jwksFile ? staticKeySource(cfg.jwksFile) : coordinatorKeys!.getKey;
  // Peers' replication PUTs are checked against the coordinator's list of registered node keys.
  const nodeKeys = new NodeKeys({ url: cfg.nodeKeysUrl, cacheFile: path.join(cfg.stateDir, 'node-keys-cache.json'), logger });
  nodeKeys.start();
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
  const { server, port } = await listen(app, { host: cfg.listenHost, port: cfg.listenPort, idleTimeoutMs: cfg.idleTimeoutMs });
  const host = cfg.listenHost.includes(':') ? `[${cfg.listenHost}]` : cfg.listenHost;
  const publicUrl = cfg.publicUrl ?? `http://${host}:${port}`;
  const heartbeat = new Heartbeat({
    redis,
    keys,
    logger,
    metrics,
    pools,
    store,
    nodeId: cfg.nodeId,
    version: version(),
    publicUrl,
    intervalMs: cfg.heartbeatIntervalMs,
    activeUploads: () => tracker.active,
    queueDepth: () => store.outboxPending(),
  });
  heartbeat.start();
  outbox.start();
  jobs.start();
  worker.start();
  tus.start();
  const prune = setInterval(() => store.pruneTokens(Math.floor(Date.now() / 1000) - cfg.clockSkewSeconds), 60_000);
  prune.unref();
  logger.info({ port, host: cfg.listenHost, public_url: publicUrl, node_id: cfg.nodeId }, 'listening');

  let serverClosed: Promise<void> = Promise.resolve();
  const shutdown = createShutdown(logger, [
    { name: 'heartbeat', run: () => heartbeat.stop() },
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
  ]);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      logger.info({ signal }, 'shutting down');
      void shutdown().then(() => process.exit(0));
    });
  }
}

async function main(): Promise<void> {
  let env: Record<string, string | undefined>;
  try {
    env = readEnvironment(process.argv, process.env);
    if (process.argv[2] === 'init') {
      init(env);
      return;
    }
    if (process.argv[2] === 'worker') {
      const cfg = parseConfig(nodeConfigSchema, env);
      // Imported only here: the main process never loads sharp (libvips) at all.
      const { runJobWorker } = await import('./jobs/worker-process.js');
      await runJobWorker(cfg, createLogger({ name: 'fennec-node-worker', level: cfg.logLevel }));
      return;
    }
    if (process.argv[2] === 'restore') {
      const { restoreCommand, RestoreUsageError } = await import('./restore/command.js');
      try {
        process.exitCode = await restoreCommand(process.argv.slice(3), env);
      } catch (err) {
        if (err instanceof RestoreUsageError || err instanceof ConfigError) throw err;
        // The coordinator or S3 unreachable mid-run: what is restored stays; running it again resumes.
        process.stderr.write(`fennec-node restore: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
      return;
    }
    const cfg = parseConfig(nodeConfigSchema, env);
    const logger = createLogger({ name: 'fennec-node', level: cfg.logLevel });
    await run(cfg, logger);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PoolSetupError || (err instanceof Error && err.name === 'RestoreUsageError')) {
      process.stderr.write(`fennec-node: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

await main();
