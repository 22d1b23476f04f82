#!/usr/bin/env node
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { Redis } from 'ioredis';
import { ConfigError, parseConfig, readEnvironment } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { redisKeys } from '../shared/redis-keys.js';
import { buildApp } from './app.js';
import { coordinatorEnvSchema, type CoordinatorConfig } from './config.js';
import { openDatabase } from './db/open.js';
import type { CoordinatorDeps } from './deps.js';
import { heartbeatSnapshot } from './heartbeats.js';
import { DurabilityLoop } from './durability/loop.js';
import { nodeJobs } from './node-jobs.js';
import { nodeQueues, queueCounts } from './queues.js';
import { coordinatorMetrics, registerClusterGauges, registerDurabilityGauges } from './metrics.js';
import { sessionRateLimits } from './rate-limit.js';
import { createRepos } from './repos.js';
import { addSigningKey, loadSigningKeys } from './signing-keys.js';
import { startSweeper } from './sweeper.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { webhookOutboxRepo } from './webhooks/outbox-repo.js';

function loadConfig(): CoordinatorConfig {
  try {
    return parseConfig(coordinatorEnvSchema, readEnvironment(process.argv, process.env));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`fennec-coordinator: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

function main(): void {
  const config = loadConfig();
  const keysDir = path.join(config.dataDir, 'signing-keys');
  if (process.argv[2] === 'rotate-key') {
    const kid = addSigningKey(keysDir);
    process.stdout.write(`${JSON.stringify({ kid, dir: keysDir })}\n`);
    return;
  }

  const logger = createLogger({ name: 'fennec-coordinator', level: config.logLevel });
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const db = openDatabase(path.join(config.dataDir, 'coordinator.db'));
  const signingKeys = loadSigningKeys(keysDir);
  const redis = new Redis(config.redisUrl, {
    // Redis down must fail fast (placement then sees stale heartbeats → 503), never queue requests.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 100, 1000),
    // The rate limits' two calls per session go out in one write.
    enableAutoPipelining: true,
  });
  let redisDown = false;
  redis.on('error', (err) => {
    if (!redisDown) logger.warn({ err: err.message }, 'redis unavailable');
    redisDown = true;
  });
  redis.on('ready', () => {
    if (redisDown) logger.info('redis reconnected');
    redisDown = false;
  });

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
  let jobErrorLoggedAt = -Infinity;
  const jobs = nodeJobs({
    queues: queueHandles,
    issuer: config.issuer,
    signingKeys: () => signingKeys,
    // At most once a minute: during a Redis outage every tick fails every ensure.
    onError: (err, nodeId) => {
      if (Date.now() - jobErrorLoggedAt < 60_000) return;
      jobErrorLoggedAt = Date.now();
      logger.warn({ err: err.message, node_id: nodeId }, 'adding copy jobs failed; the durability loop retries');
    },
  });
  const heartbeats = heartbeatSnapshot({
    redis,
    keys,
    logger,
    onRefreshError: () => metrics.heartbeatRefreshFailures.inc(),
  });
  const durability = new DurabilityLoop({ repos, heartbeats, jobs, logger, settings: config.durability });
  const deps: CoordinatorDeps = {
    settings: config,
    logger,
    db,
    redis,
    repos,
    heartbeats,
    rateLimits: sessionRateLimits({
      redis,
      keys,
      userPerMinute: config.rateUserPerMin,
      ipPerMinute: config.rateIpPerMin,
    }),
    signingKeys,
    metrics,
    webhooks,
    queues,
    durability,
    jobs,
  };
  registerClusterGauges(metrics, {
    nodeIds: () => repos.nodes.list().map((n) => n.node_id),
    heartbeats: deps.heartbeats,
    heartbeatMaxAgeMs: config.heartbeatMaxAgeMs,
    queues,
    webhooksPending: () => webhookOutbox.pending(),
  });
  registerDurabilityGauges(metrics, repos);
  const sweeper = startSweeper({
    sessions: repos.sessions,
    logger,
    graceMs: config.sessionGraceSeconds * 1000,
    onExpired: (n) => metrics.expiredSessions.inc(n),
  });

  webhooks.start();
  durability.start();
  const app = buildApp(deps);
  const server = serve({ fetch: app.fetch, port: config.listenPort, hostname: config.listenHost }, (info) => {
    // With port 0 the default public URL only becomes known now.
    const publicUrl = config.publicUrl.replace(/:0$/, `:${info.port}`);
    logger.info({ host: config.listenHost, port: info.port, public_url: publicUrl, kid: signingKeys.kid }, 'listening');
  });
  server.on('error', (err) => {
    logger.fatal({ err }, 'server error');
    void shutdown('server-error', 1);
  });

  let closing: Promise<void> | undefined;
  // Fixed order, each step on its own so one failure does not skip the rest; safe to call twice.
  function shutdown(reason: string, exitCode = 0): Promise<void> {
    closing ??= (async () => {
      logger.info({ reason }, 'shutting down');
      sweeper.stop();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          resolve();
        }, 10_000);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        // Idle keep-alive sockets would hold close() open until they time out.
        (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      });
      await webhooks.stop();
      // Before the queues and Redis close: a tick in flight finishes adding its jobs.
      await durability.stop();
      await queues.close();
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
      try {
        db.close();
      } catch (err) {
        logger.error({ err }, 'closing sqlite failed');
      }
      logger.info('stopped');
      process.exitCode = exitCode;
    })();
    return closing;
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main();
