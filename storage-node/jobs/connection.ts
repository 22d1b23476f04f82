import { Redis } from 'ioredis';
import type { NodeConfig } from '../config.js';

/**
 * Unlike the fail-fast client for heartbeats, BullMQ needs a connection that waits
 * (maxRetriesPerRequest: null) so a queue or worker rides out a Redis restart.
 */
export function jobsConnection(redisUrl: string): Redis {
  const connection = new Redis(redisUrl, {
    maxRetriesPerRequest: null,
    lazyConnect: true,
    retryStrategy: (times) => Math.min(times * 200, 1000),
  });
  connection.on('error', () => undefined); // the heartbeat reports outages
  return connection;
}

/** The queue settings both processes must agree on (the main process adds, the worker runs). */
export function queueSettings(cfg: NodeConfig) {
  const { concurrency, attempts, backoffMs, lockMs, markerCheckMs } = cfg.jobs;
  return { concurrency, attempts, backoffMs, lockMs, markerCheckMs };
}
