import { Redis } from 'ioredis';

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
