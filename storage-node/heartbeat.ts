import type { Redis } from 'ioredis';
import { TUS_PATH, UPLOAD_PATH } from '../shared/api.js';
import { encodeHeartbeat, type NodeHeartbeat, type PoolHeartbeat } from '../shared/heartbeat.js';
import type { Logger } from '../shared/logger.js';
import type { RedisKeys } from '../shared/redis-keys.js';
import type { NodeStore } from './db/store.js';
import type { NodeMetrics } from './metrics.js';
import type { PoolSet } from './pools.js';

export interface HeartbeatDeps {
  redis: Redis;
  keys: RedisKeys;
  logger: Logger;
  metrics: NodeMetrics;
  pools: PoolSet;
  store: NodeStore;
  nodeId: string;
  version: string;
  publicUrl: string;
  intervalMs: number;
  activeUploads: () => number;
  queueDepth: () => number;
}

/**
 * Publishes this node's capacity to Redis every interval (TTL = 3 beats, so a dead node drops
 * out of placement on its own). A Redis outage fails each beat fast and is logged once; uploads
 * never depend on it.
 */
export class Heartbeat {
  readonly #deps: HeartbeatDeps;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #failing = false;
  #stopped = false;

  constructor(deps: HeartbeatDeps) {
    this.#deps = deps;
  }

  /** First beat immediately, then every interval. */
  start(): void {
    const tick = () => {
      this.#inFlight = this.beat().finally(() => {
        this.#inFlight = undefined;
        if (!this.#stopped) this.#timer = setTimeout(tick, this.#deps.intervalMs);
      });
    };
    tick();
  }

  async snapshot(): Promise<NodeHeartbeat> {
    const { pools, store } = this.#deps;
    await pools.probeAll();
    const poolFigures: PoolHeartbeat[] = [];
    for (const pool of pools.all()) {
      const used = store.usedBytes(pool.config.id);
      const cap = await pools.capacity(pool, used);
      this.#recordPool(pool.config.id, cap.total_bytes, cap.free_bytes, used, pool.writable);
      poolFigures.push({
        pool_id: pool.config.id,
        tier: pool.config.tier,
        total_bytes: cap.total_bytes,
        free_bytes: cap.free_bytes,
        used_bytes: used,
        accepting: true,
        writable: pool.writable,
        public_base_url: pool.config.public_base_url,
        // Its credentials can read that bucket (config refuses a backup without them): the
        // coordinator may restore from it, or delete a backup in it, through this pool.
        ...(pool.config.backup ? { backup_bucket: pool.config.backup.bucket } : {}),
      });
    }
    // A bucket has no statfs: its configured capacity less what this node put there. Writable
    // is not probed (an S3 request every beat costs money); a failing bucket fails its moves.
    for (const pool of pools.allS3()) {
      const used = store.usedBytes(pool.id);
      const total = pool.config.capacity_bytes;
      const free = Math.max(0, total - used);
      this.#recordPool(pool.id, total, free, used, true);
      poolFigures.push({
        pool_id: pool.id,
        tier: pool.config.tier,
        type: 's3',
        total_bytes: total,
        free_bytes: free,
        used_bytes: used,
        accepting: false,
        writable: true,
        public_base_url: pool.config.public_base_url,
      });
    }
    return {
      node_id: this.#deps.nodeId,
      version: this.#deps.version,
      upload_api_url: `${this.#deps.publicUrl}${UPLOAD_PATH}`,
      tus_url: `${this.#deps.publicUrl}${TUS_PATH}`,
      ts: Date.now(),
      accepting: !this.#stopped,
      active_uploads: this.#deps.activeUploads(),
      queue_depth: this.#deps.queueDepth(),
      pools: poolFigures,
    };
  }

  /** The same figures on /metrics, so alerts see a pool filling up without reading Redis. */
  #recordPool(id: string, total: number, free: number, used: number, writable: boolean): void {
    const m = this.#deps.metrics;
    const labels = { pool: id };
    m.poolTotalBytes.set(labels, total);
    m.poolFreeBytes.set(labels, free);
    m.poolUsedBytes.set(labels, used);
    m.poolFillRatio.set(labels, total > 0 ? Math.min(1, Math.max(0, 1 - free / total)) : 1);
    m.poolWritable.set(labels, writable ? 1 : 0);
  }

  async beat(): Promise<void> {
    const { redis, keys, logger, intervalMs } = this.#deps;
    try {
      const hb = await this.snapshot();
      if (this.#stopped) return;
      const key = keys.node(this.#deps.nodeId);
      const res = await redis
        .multi()
        .hset(key, encodeHeartbeat(hb))
        .pexpire(key, 3 * intervalMs)
        .sadd(keys.nodesIndex(), this.#deps.nodeId)
        .exec();
      const failed = res?.find(([err]) => err);
      if (!res || failed) throw failed?.[0] ?? new Error('transaction aborted');
      if (this.#failing) logger.info('heartbeat restored');
      this.#failing = false;
    } catch (err) {
      this.#deps.metrics.heartbeatFailures.inc();
      if (!this.#failing) logger.warn({ err: (err as Error).message }, 'heartbeat failed; uploads continue, retrying every beat');
      this.#failing = true;
    }
  }

  /** Stops beating and deletes the node's key, so the coordinator stops placing uploads here at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#inFlight;
    clearTimeout(this.#timer);
    try {
      await this.#deps.redis.del(this.#deps.keys.node(this.#deps.nodeId));
    } catch (err) {
      this.#deps.logger.warn({ err: (err as Error).message }, 'could not delete the heartbeat key (it expires on its own)');
    }
  }
}
