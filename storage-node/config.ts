import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { TIERS, type Tier } from '../shared/api.js';
import { env } from '../shared/config.js';
import { DEFAULT_REDIS_PREFIX } from '../shared/redis-keys.js';
import { NODE_KEYS_PATH } from '../shared/replication.js';
import { variantRecipeSchema, type VariantRecipe } from './variants/recipe.js';

/** One pool this node stores files in (an entry of FENNEC_POOLS). */
export interface PoolConfig {
  id: string;
  tier: Tier;
  /** Absolute directory; `tmp/` inside it must be on the same filesystem as `original/` (atomic rename). */
  path: string;
  public_base_url: string;
  /** Caps the capacity this node reports for the pool (a shared disk, a soft quota); null = whole disk. */
  max_bytes: number | null;
  /** Which variants this pool makes and how (sizes, formats, quality, effort); unset = DESIGN.md defaults. */
  variants?: VariantRecipe;
}

const ID = /^[a-z0-9][a-z0-9-]*$/;

const poolSchema = z.object({
  id: z.string().regex(ID, 'pool id must match [a-z0-9-]+'),
  tier: z.enum(TIERS),
  path: z.string().refine((p) => path.isAbsolute(p), 'pool path must be absolute'),
  public_base_url: z.string().url(),
  max_bytes: z.number().int().positive().nullable().optional().default(null),
  variants: variantRecipeSchema,
});

/** FENNEC_POOLS: a JSON array of pools with unique ids and unique directories. */
const poolsSchema = z
  .string()
  .transform((raw, ctx) => {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array of pools' });
      return z.NEVER;
    }
  })
  .pipe(z.array(poolSchema).min(1, 'at least one pool is required'))
  .superRefine((pools, ctx) => {
    const ids = new Set<string>();
    const dirs = new Set<string>();
    for (const p of pools) {
      if (ids.has(p.id)) ctx.addIssue({ code: 'custom', message: `duplicate pool id ${p.id}` });
      const dir = path.resolve(p.path);
      if (dirs.has(dir)) ctx.addIssue({ code: 'custom', message: `two pools share the directory ${dir}` });
      ids.add(p.id);
      dirs.add(dir);
    }
  })
  .transform((pools): PoolConfig[] => pools.map((p) => ({ ...p, path: path.resolve(p.path) })));

const required = (name: string) => z.string({ error: `${name} is required` }).min(1, `${name} is required`);
const absPath = (name: string) =>
  required(name).refine((p) => path.isAbsolute(p), `${name} must be an absolute path`);
const nodeId = z
  .string({ error: 'FENNEC_NODE_ID is required' })
  .regex(ID, 'FENNEC_NODE_ID must match [a-z0-9-]+');

/** `FOO=` in an env file means "not set", not "set to nothing". */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

/** What `fennec-node init` needs: enough to create the identity key and the pool markers. */
export const initConfigSchema = z
  .object({
    FENNEC_NODE_ID: nodeId,
    FENNEC_NODE_KEY_FILE: absPath('FENNEC_NODE_KEY_FILE'),
    FENNEC_POOLS: poolsSchema,
  })
  .transform((e) => ({ nodeId: e.FENNEC_NODE_ID, nodeKeyFile: e.FENNEC_NODE_KEY_FILE, pools: e.FENNEC_POOLS }));
export type InitConfig = z.infer<typeof initConfigSchema>;

export const nodeConfigSchema = z
  .object({
    FENNEC_NODE_ID: nodeId,
    FENNEC_LISTEN_HOST: z.string().min(1).default('127.0.0.1'),
    FENNEC_LISTEN_PORT: env.port(8081),
    FENNEC_PUBLIC_URL: optional(env.url()),
    FENNEC_POOLS: poolsSchema,
    FENNEC_STATE_DIR: absPath('FENNEC_STATE_DIR'),
    FENNEC_NODE_KEY_FILE: absPath('FENNEC_NODE_KEY_FILE'),
    FENNEC_COORDINATOR_URL: env.url(),
    FENNEC_JWKS_URL: optional(env.url()),
    FENNEC_JWKS_FILE: optional(z.string()),
    FENNEC_TOKEN_ISSUER: z.string().min(1).default('fennec-coordinator'),
    FENNEC_REDIS_URL: env.url().default('redis://127.0.0.1:6379'),
    FENNEC_REDIS_PREFIX: z.string().default(DEFAULT_REDIS_PREFIX),
    FENNEC_HEARTBEAT_INTERVAL_MS: env.int(5000, 100),
    FENNEC_IDLE_TIMEOUT_MS: env.int(60000, 1000),
    FENNEC_CLOCK_SKEW_SECONDS: env.int(30, 0),
    FENNEC_UPLOAD_RATE_IP_PER_MIN: env.int(600, 1),
    FENNEC_OUTBOX_MAX_BACKOFF_MS: env.int(30000, 500),
    FENNEC_SHUTDOWN_GRACE_MS: env.int(2000, 0),
    FENNEC_TUS_EXPIRATION_MS: env.int(24 * 3600 * 1000, 1000),
    FENNEC_LOG_LEVEL: env.logLevel(),
    // Variant jobs: one image at a time, its encodes side by side on every core (each encode is
    // one libvips thread). Uploads are I/O and one hash on the event loop: the OS shares the
    // cores fairly; FENNEC_VARIANT_PARALLEL=1 leaves a whole core to uploads.
    FENNEC_JOB_CONCURRENCY: env.int(1, 1),
    FENNEC_VARIANT_PARALLEL: env.int(os.availableParallelism(), 1),
    FENNEC_VARIANT_MAX_PIXELS: env.int(100_000_000, 1),
    FENNEC_JOB_ATTEMPTS: env.int(5, 1),
    FENNEC_JOB_BACKOFF_MS: env.int(2000, 1),
    FENNEC_JOB_LOCK_MS: env.int(30_000, 500),
    FENNEC_JOB_MARKER_CHECK_MS: env.int(5000, 100),
    // Copies: node → node PUTs share the VPS uplink with uploads and downloads, so they are capped.
    FENNEC_REPLICATION_BYTES_PER_SEC: env.int(50 * 1024 * 1024, 0),
    // Scrub: when it runs (node-cron, seconds field allowed) and how fast it may read originals.
    FENNEC_SCRUB_CRON: z.string().min(1).default('17 3 * * *'),
    FENNEC_SCRUB_BYTES_PER_SEC: env.int(20 * 1024 * 1024, 1),
  })
  .transform((e) => {
    const coordinatorUrl = e.FENNEC_COORDINATOR_URL.replace(/\/+$/, '');
    return {
      nodeId: e.FENNEC_NODE_ID,
      listenHost: e.FENNEC_LISTEN_HOST,
      listenPort: e.FENNEC_LISTEN_PORT,
      /** Undefined = http://HOST:PORT with the port actually bound (port 0 works). */
      publicUrl: e.FENNEC_PUBLIC_URL?.replace(/\/+$/, ''),
      pools: e.FENNEC_POOLS,
      stateDir: e.FENNEC_STATE_DIR,
      nodeKeyFile: e.FENNEC_NODE_KEY_FILE,
      coordinatorUrl,
      jwksUrl: e.FENNEC_JWKS_URL ?? `${coordinatorUrl}/.well-known/jwks.json`,
      /** A static JWKS file wins over the URL when set. */
      jwksFile: e.FENNEC_JWKS_FILE,
      tokenIssuer: e.FENNEC_TOKEN_ISSUER,
      redisUrl: e.FENNEC_REDIS_URL,
      redisPrefix: e.FENNEC_REDIS_PREFIX,
      heartbeatIntervalMs: e.FENNEC_HEARTBEAT_INTERVAL_MS,
      idleTimeoutMs: e.FENNEC_IDLE_TIMEOUT_MS,
      clockSkewSeconds: e.FENNEC_CLOCK_SKEW_SECONDS,
      uploadRateIpPerMin: e.FENNEC_UPLOAD_RATE_IP_PER_MIN,
      outboxMaxBackoffMs: e.FENNEC_OUTBOX_MAX_BACKOFF_MS,
      shutdownGraceMs: e.FENNEC_SHUTDOWN_GRACE_MS,
      /** A resumable upload not finished this long after its creation is removed. */
      tusExpirationMs: e.FENNEC_TUS_EXPIRATION_MS,
      logLevel: e.FENNEC_LOG_LEVEL,
      jobs: {
        concurrency: e.FENNEC_JOB_CONCURRENCY,
        /** Variant encodes of one image run at once (each on one libvips thread). */
        variantParallel: e.FENNEC_VARIANT_PARALLEL,
        /** Pixel cap (width × height) checked on the header; also sharp's limitInputPixels. */
        maxPixels: e.FENNEC_VARIANT_MAX_PIXELS,
        attempts: e.FENNEC_JOB_ATTEMPTS,
        backoffMs: e.FENNEC_JOB_BACKOFF_MS,
        /** A job whose worker died is taken up again once its lock (this long) runs out. */
        lockMs: e.FENNEC_JOB_LOCK_MS,
        markerCheckMs: e.FENNEC_JOB_MARKER_CHECK_MS,
      },
      /** Cap on bytes per second this node sends to peers (replication, moves, repair); 0 = none. */
      replicationBytesPerSec: e.FENNEC_REPLICATION_BYTES_PER_SEC,
      scrub: {
        /** node-cron expression (6 fields = with seconds). */
        cron: e.FENNEC_SCRUB_CRON,
        bytesPerSec: e.FENNEC_SCRUB_BYTES_PER_SEC,
      },
      /** The coordinator's list of node identity keys: peers' replication PUTs are checked against it. */
      nodeKeysUrl: `${coordinatorUrl}${NODE_KEYS_PATH}`,
    };
  });
export type NodeConfig = z.infer<typeof nodeConfigSchema>;
