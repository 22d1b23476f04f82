import cron from 'node-cron';
import { z } from 'zod';
import { env } from '../shared/config.js';
import { DEFAULT_REDIS_PREFIX } from '../shared/redis-keys.js';

const GIB = 1024 ** 3;

/** Every coordinator setting, keyed by its environment variable (README "Configuration"). */
export const coordinatorEnvSchema = z
  .object({
    FENNEC_LISTEN_HOST: z.string().min(1).default('127.0.0.1'),
    FENNEC_LISTEN_PORT: env.port(8080),
    FENNEC_PUBLIC_URL: env.url().optional(),
    FENNEC_DATA_DIR: z.string({ error: 'is required' }).min(1, 'is required'),
    FENNEC_REDIS_URL: z.string().min(1).default('redis://127.0.0.1:6379'),
    FENNEC_REDIS_PREFIX: z.string().default(DEFAULT_REDIS_PREFIX),
    FENNEC_ADMIN_KEY: z.string({ error: 'is required' }).min(16, 'must be at least 16 characters'),
    FENNEC_ISSUER: z.string().min(1).default('fennec-coordinator'),
    FENNEC_TOKEN_TTL_SECONDS: env.int(900, 1),
    FENNEC_SESSION_GRACE_SECONDS: env.int(3600, 0),
    FENNEC_MAX_FILE_BYTES: env.int(5 * GIB, 1),
    FENNEC_DEFAULT_QUOTA_BYTES: env.int(5 * GIB, 0),
    FENNEC_RATE_USER_PER_MIN: env.int(600, 1),
    FENNEC_RATE_IP_PER_MIN: env.int(1200, 1),
    FENNEC_HEARTBEAT_MAX_AGE_MS: env.int(15000, 100),
    FENNEC_PRIVATE_URL_TTL_SECONDS: env.int(3600, 1),
    FENNEC_LOG_LEVEL: env.logLevel(),
    FENNEC_WEBHOOK_BACKOFF_MS: env.int(1000, 1),
    FENNEC_WEBHOOK_MAX_BACKOFF_MS: env.int(10 * 60_000, 1),
    FENNEC_WEBHOOK_MAX_ATTEMPTS: env.int(20, 1),
    // Webhooks to loopback, private and link-local addresses (a local cluster, an app on the LAN); off: SSRF.
    FENNEC_WEBHOOK_ALLOW_PRIVATE: env.bool(false),
    FENNEC_NODE_DOWN_GRACE_MS: env.int(30 * 60_000, 0),
    FENNEC_REPAIR_INTERVAL_MS: env.int(10_000, 100),
    FENNEC_REPAIR_BATCH: env.int(200, 1),
    FENNEC_MOVE_BATCH: env.int(20, 1),
    FENNEC_JOB_RETRY_MS: env.int(30_000, 100),
    FENNEC_TIERING_INTERVAL_MS: env.int(3_600_000, 100),
    // When set, tiering runs on this node-cron schedule (e.g. "0 3 * * *": nightly, off-peak) instead of the interval.
    FENNEC_TIERING_CRON: z
      .string()
      .min(1)
      .refine((v) => cron.validate(v), 'FENNEC_TIERING_CRON is not a cron expression')
      .optional(),
    FENNEC_BACKUP_DELETE_GRACE_SECONDS: env.int(7 * 24 * 3600, 0),
  })
  .transform((e) => ({
    listenHost: e.FENNEC_LISTEN_HOST,
    listenPort: e.FENNEC_LISTEN_PORT,
    publicUrl: e.FENNEC_PUBLIC_URL ?? `http://${e.FENNEC_LISTEN_HOST}:${e.FENNEC_LISTEN_PORT}`,
    dataDir: e.FENNEC_DATA_DIR,
    redisUrl: e.FENNEC_REDIS_URL,
    redisPrefix: e.FENNEC_REDIS_PREFIX,
    adminKey: e.FENNEC_ADMIN_KEY,
    issuer: e.FENNEC_ISSUER,
    tokenTtlSeconds: e.FENNEC_TOKEN_TTL_SECONDS,
    sessionGraceSeconds: e.FENNEC_SESSION_GRACE_SECONDS,
    maxFileBytes: e.FENNEC_MAX_FILE_BYTES,
    defaultQuotaBytes: e.FENNEC_DEFAULT_QUOTA_BYTES,
    rateUserPerMin: e.FENNEC_RATE_USER_PER_MIN,
    rateIpPerMin: e.FENNEC_RATE_IP_PER_MIN,
    heartbeatMaxAgeMs: e.FENNEC_HEARTBEAT_MAX_AGE_MS,
    /** How long the signed URLs of private images (image API, webhooks, /i/) stay valid. */
    privateUrlTtlSeconds: e.FENNEC_PRIVATE_URL_TTL_SECONDS,
    logLevel: e.FENNEC_LOG_LEVEL,
    /** A deleted image's S3 backup is deleted this long after the image (a window to undo a mistake from the bucket). */
    backupDeleteGraceSeconds: e.FENNEC_BACKUP_DELETE_GRACE_SECONDS,
    /** App webhooks: first retry after this, doubling to the max; dead after maxAttempts (~2 days by default). */
    webhooks: {
      baseBackoffMs: e.FENNEC_WEBHOOK_BACKOFF_MS,
      maxBackoffMs: e.FENNEC_WEBHOOK_MAX_BACKOFF_MS,
      maxAttempts: e.FENNEC_WEBHOOK_MAX_ATTEMPTS,
      /** Loopback, private and link-local webhook targets allowed (webhooks/target.ts). */
      allowPrivate: e.FENNEC_WEBHOOK_ALLOW_PRIVATE,
    },
    /**
     * Replication, repair and moves (coordinator/durability/): a node unseen for nodeDownGraceMs
     * is 'down'; a tick runs every repairIntervalMs, plans up to repairBatch objects, keeps up to
     * moveBatch items of each move queued and re-adds jobs not ensured for jobRetryMs.
     */
    durability: {
      heartbeatMaxAgeMs: e.FENNEC_HEARTBEAT_MAX_AGE_MS,
      nodeDownGraceMs: e.FENNEC_NODE_DOWN_GRACE_MS,
      repairIntervalMs: e.FENNEC_REPAIR_INTERVAL_MS,
      repairBatch: e.FENNEC_REPAIR_BATCH,
      moveBatch: e.FENNEC_MOVE_BATCH,
      jobRetryMs: e.FENNEC_JOB_RETRY_MS,
      /** Pools' tiering policies are applied at most this often. */
      tieringIntervalMs: e.FENNEC_TIERING_INTERVAL_MS,
      tieringCron: e.FENNEC_TIERING_CRON,
      backupDeleteGraceMs: e.FENNEC_BACKUP_DELETE_GRACE_SECONDS * 1000,
    },
  }));

export type CoordinatorConfig = z.infer<typeof coordinatorEnvSchema>;
