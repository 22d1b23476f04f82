import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Hono } from 'hono';
import { Redis } from 'ioredis';
import { createLogger, type Logger } from '../shared/logger.js';
import { redisKeys } from '../shared/redis-keys.js';
import type { ShutdownStep } from '../shared/shutdown.js';
import { buildApp } from './app.js';
import type { CoordinatorEnv } from './auth.js';
import type { CoordinatorConfig } from './config.js';
import { openDatabase } from './db/open.js';
import type { CoordinatorDeps } from './deps.js';
import { DurabilityLoop } from './durability/loop.js';
import { heartbeatSnapshot } from './heartbeats.js';
import { coordinatorMetrics, registerClusterGauges, registerDurabilityGauges } from './metrics.js';
import { type NodeJobs, nodeJobs } from './node-jobs.js';
import { nodeQueues, queueCounts } from './queues.js';
import { sessionRateLimits } from './rate-limit.js';
import { createRepos } from './repos.js';
import { loadSigningKeys } from './signing-keys.js';
import { startSweeper } from './sweeper.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { webhookOutboxRepo } from './webhooks/outbox-repo.js';

/** What a test hands in instead of what compose would build from the config. */
export interface CoordinatorOverrides {
  logger?: Logger;
  /** An already-open client (the test's redis-server); compose then leaves closing it to its owner. */
  redis?: Redis;
  /** How old the heartbeat snapshot may be (0: a test writes a beat and places an upload at once). */
  heartbeatRefreshMs?: number;
}

/** The coordinator's deps graph with the background parts main.ts starts and stops. */
export interface ComposedCoordinator {
  deps: CoordinatorDeps & {
    webhooks: WebhookDispatcher;
    durability: DurabilityLoop;
    jobs: NodeJobs;
    queues: ReturnType<typeof queueCounts>;
  };
  app: Hono<CoordinatorEnv>;
  /** Starts the webhook dispatcher, the durability loop and the session sweeper. */
  start(): void;
  /** Everything after the HTTP server, in the order it must stop (loops before queues before Redis and SQLite). */
  stopSteps: ShutdownStep[];
}

/** The coordinator built once from a validated config: main.ts serves it, tests call its app. */
export function composeCoordinator(config: CoordinatorConfig, overrides: CoordinatorOverrides = {}): ComposedCoordinator {
  const logger = overrides.logger ?? createLogger({ name: 'fennec-coordinator', level: config.logLevel });
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const db = openDatabase(path.join(config.dataDir, 'coordinator.db'));
  const signingKeys = loadSigningKeys(path.join(config.dataDir, 'signing-keys'));
  const redis = overrides.redis ?? coordinatorRedis(config.redisUrl, logger);
  const keys = redisKeys(config.redisPrefix);
  const metrics = coordinatorMetrics();
  const repos = createRepos(db);
  const webhookOutbox = webhookOutboxRepo(db);
  const webhooks = new WebhookDispatcher({
    outbox: webhookOutbox,
    logger,
    issuer: config.issuer,
    signingKey: () => signingKeys,
    ...config.webhooks,
    onOutcome: (outcome) => metrics.webhookDeliveries.inc({ outcome }),
  });
  const queueHandles = nodeQueues({ redis, keys });
  const queues = queueCounts({ queues: queueHandles });
  const jobs = nodeJobs({ queues: queueHandles, issuer: config.issuer, signingKeys: () => signingKeys, onError: onceAMinute(logger) });
  const heartbeats = heartbeatSnapshot({
    redis,
    keys,
    logger,
    refreshMs: overrides.heartbeatRefreshMs,
    onRefreshError: () => metrics.heartbeatRefreshFailures.inc(),
  });
  const durability = new DurabilityLoop({ repos, heartbeats, jobs, logger, settings: config.durability });
  const deps = {
    settings: config,
    logger,
    db,
    redis,
    repos,
    heartbeats,
    rateLimits: sessionRateLimits({ redis, keys, userPerMinute: config.rateUserPerMin, ipPerMinute: config.rateIpPerMin }),
    signingKeys,
    metrics,
    webhooks,
    queues,
    durability,
    jobs,
  };
  registerClusterGauges(metrics, {
    nodeIds: () => repos.nodes.list().map((n) => n.node_id),
    heartbeats,
    heartbeatMaxAgeMs: config.heartbeatMaxAgeMs,
    queues,
    webhooksPending: () => webhookOutbox.pending(),
  });
  registerDurabilityGauges(metrics, repos);

  let sweeper: { stop(): void } | undefined;
  const stopSteps: ShutdownStep[] = [
    { name: 'sweeper', run: () => sweeper?.stop() },
    // A delivery or a tick in flight finishes: webhooks before the loop, the loop before the queues it adds to.
    { name: 'webhooks', run: () => webhooks.stop(), timeoutMs: LOOP_STOP_MS },
    { name: 'durability', run: () => durability.stop(), timeoutMs: LOOP_STOP_MS },
    { name: 'queues', run: () => queues.close() },
    ...(overrides.redis ? [] : [{ name: 'redis', run: () => redis.quit().catch(() => redis.disconnect()) }]),
    { name: 'sqlite', run: () => db.close() },
  ];
  return {
    deps,
    app: buildApp(deps),
    start() {
      webhooks.start();
      durability.start();
      sweeper = startSweeper({
        sessions: repos.sessions,
        logger,
        graceMs: config.sessionGraceSeconds * 1000,
        onExpired: (n) => metrics.expiredSessions.inc(n),
      });
    },
    stopSteps,
  };
}

/** A webhook delivery or a durability tick gets this long to finish at shutdown (under systemd's stop timeout). */
const LOOP_STOP_MS = 15_000;

function coordinatorRedis(url: string, logger: Logger): Redis {
  const redis = new Redis(url, {
    // Redis down must fail fast (placement then sees stale heartbeats → 503), never queue requests.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 100, 1000),
    // The rate limits' two calls per session go out in one write.
    enableAutoPipelining: true,
  });
  let down = false;
  redis.on('error', (err) => {
    if (!down) logger.warn({ err: err.message }, 'redis unavailable');
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info('redis reconnected');
    down = false;
  });
  return redis;
}

/** At most once a minute: during a Redis outage every tick fails every ensure. */
function onceAMinute(logger: Logger): (err: Error, nodeId: string) => void {
  let loggedAt = -Infinity;
  return (err, nodeId) => {
    if (Date.now() - loggedAt < 60_000) return;
    loggedAt = Date.now();
    logger.warn({ err: err.message, node_id: nodeId }, 'adding copy jobs failed; the durability loop retries');
  };
}
