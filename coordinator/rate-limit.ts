import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { errors } from '../shared/errors.js';
import type { RedisKeys } from '../shared/redis-keys.js';

export interface SessionRateLimits {
  /** Consumes one point per user and per client IP; throws 429 `rate_limited` with Retry-After. */
  consume(userId: string, clientIp: string): Promise<void>;
}

function limiter(redis: Redis, keyPrefix: string, perMinute: number): RateLimiterRedis {
  return new RateLimiterRedis({
    storeClient: redis,
    keyPrefix,
    points: perMinute,
    duration: 60,
    // Redis down or not yet connected: count in memory instead of failing or waiting.
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ points: perMinute, duration: 60 }),
  });
}

async function consumeOne(l: RateLimiterRedis, key: string): Promise<void> {
  try {
    await l.consume(key);
  } catch (err) {
    if (err instanceof RateLimiterRes) throw errors.rateLimited(Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
    throw errors.unavailable('rate_limit_unavailable', 'rate limiter failed', err);
  }
}

/** Per-user and per-IP limits on session creation (a 429 with Retry-After): the session path's only Redis calls. */
export function sessionRateLimits(opts: { redis: Redis; keys: RedisKeys; userPerMinute: number; ipPerMinute: number }): SessionRateLimits {
  const user = limiter(opts.redis, opts.keys.rateLimit('session-user'), opts.userPerMinute);
  const ip = limiter(opts.redis, opts.keys.rateLimit('session-ip'), opts.ipPerMinute);
  return {
    async consume(userId, clientIp) {
      // Both in flight at once (ioredis auto-pipelining sends them in one write).
      const results = await Promise.allSettled([consumeOne(user, userId), consumeOne(ip, clientIp)]);
      for (const r of results) if (r.status === 'rejected') throw r.reason;
    },
  };
}
