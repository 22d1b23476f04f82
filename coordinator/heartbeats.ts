import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { decodeHeartbeat, type NodeHeartbeat } from '../shared/heartbeat.js';
import type { RedisKeys } from '../shared/redis-keys.js';

export interface HeartbeatSnapshot {
  /** The latest heartbeats, at most `refreshMs` old; a failed refresh keeps the previous figures. */
  get(): Promise<ReadonlyMap<string, NodeHeartbeat>>;
}

/**
 * An in-memory copy of every node's heartbeat, so a burst of sessions costs Redis one
 * SMEMBERS + pipelined HGETALL per `refreshMs` instead of a round trip per node per session.
 * Concurrent callers share one refresh. Staleness is safe: placement checks each heartbeat's
 * own timestamp, so a snapshot that cannot refresh ages its nodes out by itself.
 */
export function heartbeatSnapshot(opts: {
  redis: Redis;
  keys: RedisKeys;
  logger: Logger;
  refreshMs?: number;
  onRefreshError?: () => void;
}): HeartbeatSnapshot {
  const refreshMs = opts.refreshMs ?? 500;
  let current: ReadonlyMap<string, NodeHeartbeat> = new Map();
  /** Last successful load: what "fresh enough to answer at once" is measured from. */
  let fetchedAt = -Infinity;
  /** Last attempt, failed or not: a Redis outage is probed every refreshMs, not per request. */
  let attemptedAt = -Infinity;
  let inflight: Promise<ReadonlyMap<string, NodeHeartbeat>> | undefined;
  let failing = false;

  async function load(): Promise<ReadonlyMap<string, NodeHeartbeat>> {
    const ids = await opts.redis.smembers(opts.keys.nodesIndex());
    const next = new Map<string, NodeHeartbeat>();
    if (ids.length > 0) {
      const pipe = opts.redis.pipeline();
      for (const id of ids) pipe.hgetall(opts.keys.node(id));
      const results = (await pipe.exec()) ?? [];
      results.forEach(([err, hash], i) => {
        if (err) return;
        const hb = decodeHeartbeat(hash as Record<string, string>);
        // The hash must describe the node the index names, or a stray key could impersonate one.
        if (hb && hb.node_id === ids[i]) next.set(hb.node_id, hb);
      });
    }
    return next;
  }

  async function refresh(): Promise<ReadonlyMap<string, NodeHeartbeat>> {
    try {
      current = await load();
      fetchedAt = Date.now();
      if (failing) opts.logger.info('heartbeat refresh recovered');
      failing = false;
    } catch (err) {
      opts.onRefreshError?.();
      if (!failing) opts.logger.warn({ err }, 'heartbeat refresh failed; using the last snapshot');
      failing = true;
    } finally {
      attemptedAt = Date.now();
      inflight = undefined;
    }
    return current;
  }

  return {
    get() {
      const now = Date.now();
      // Until a first load succeeded every caller may try again: there is nothing to serve yet.
      const due = fetchedAt === -Infinity || (now - fetchedAt >= refreshMs && now - attemptedAt >= refreshMs);
      if (due) inflight ??= refresh();
      // Stale-while-revalidate: while the snapshot is only a little old, callers get it at once
      // and the refresh runs beside them (500 nodes take tens of ms to read and decode). After
      // a quiet spell it is too old to place by, and the caller waits for the fresh one. A
      // failed attempt never makes the old (or, at start, empty) snapshot count as fresh: an
      // early caller — the durability loop before Redis connected — must not blind placement.
      if (now - fetchedAt < 2 * refreshMs) return Promise.resolve(current);
      return inflight ?? Promise.resolve(current);
    },
  };
}
