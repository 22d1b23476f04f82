import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { errors } from '../shared/errors.js';
import { redisKeys } from '../shared/redis-keys.js';

/** Consumes one point for a key or throws 429 `rate_limited` with Retry-After. */
export type RateLimit = (key: string) => Promise<void>;

/**
 * Per-IP upload limiter. Counters live in Redis so every process of a node shares them; the
 * in-memory insurance limiter takes over while Redis is down, so an outage never blocks uploads.
 */
export function createRateLimit(opts: { redis?: Redis; prefix?: string; pointsPerMinute: number }): RateLimit {
  const memory = new RateLimiterMemory({ points: opts.pointsPerMinute, duration: 60 });
  const limiter = opts.redis
    ? new RateLimiterRedis({
        storeClient: opts.redis,
        keyPrefix: redisKeys(opts.prefix).rateLimit('node-upload-ip'),
        points: opts.pointsPerMinute,
        duration: 60,
        rejectIfRedisNotReady: true,
        insuranceLimiter: memory,
      })
    : memory;
  return async function rateLimit(key) {
    try {
      await limiter.consume(key);
    } catch (err) {
      if (err instanceof RateLimiterRes) throw errors.rateLimited(Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
      throw err;
    }
  };
}
