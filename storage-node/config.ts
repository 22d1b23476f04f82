import os from 'node:os';
import path from 'node:path';
import cron from 'node-cron';
import { z } from 'zod';
import { TIERS } from '../shared/api.js';
import { env } from '../shared/config.js';
import { DEFAULT_REDIS_PREFIX } from '../shared/redis-keys.js';
import { NODE_KEYS_PATH } from '../shared/replication.js';
import { keySourceProblem } from './key-source.js';
import { type VariantRecipe, variantRecipeSchema } from './variants/recipe.js';

/** An s3 pool with the credentials of its bucket (kept out of S3PoolConfig so the pool list can be logged). */
export interface S3PoolEntry {
  config: S3PoolConfig;
  credentials: S3Credentials;
}

/** A bucket's key pair, read from the environment by name per pool (never from FENNEC_POOLS). */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

const MAX_BACKUP_DELAY_SECONDS = 30 * 24 * 3600;

/** A pool's S3 backup target (credentials come from the environment, never from FENNEC_POOLS). */
const backupSchema = z.object({
  /** Unset = AWS for `region`; B2, MinIO, s3rver: their URL. */
  endpoint: z.string().url().optional(),
  region: z.string().min(1).default('us-east-1'),
  bucket: z.string().min(1),
  /** Key prefix: objects go to `{prefix}/YYYY/MM/DD/{uuid}.{ext}` (shared/backup.ts backupKey). */
  prefix: z.string().default(''),
  /** Path-style URLs (`endpoint/bucket/key`): B2, MinIO and s3rver need it. */
  force_path_style: z.boolean().default(false),
  /** How long after its variants are done an original waits before it is uploaded (0..30 days). */
  delay_seconds: z.number().int().min(0).max(MAX_BACKUP_DELAY_SECONDS, 'delay_seconds is at most 30 days').default(0),
  /** Also upload the variant files (they can be regenerated from the original, so off by default). */
  include_variants: z.boolean().default(false),
  /** Uploads of this pool at once. */
  concurrency: z.number().int().min(1).max(64).default(2),
});
export type BackupTarget = z.output<typeof backupSchema>;

/** `FENNEC_S3_{POOL}_…` for pool `s01-hot` is `FENNEC_S3_S01_HOT_…`. */
export function s3EnvPrefix(poolId: string): string {
  return `FENNEC_S3_${poolId.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_`;
}

/** The pool's own pair wins over the shared FENNEC_S3_ACCESS_KEY_ID / FENNEC_S3_SECRET_ACCESS_KEY. */
function credentialsFor(poolId: string, env: Record<string, unknown>): S3Credentials | undefined {
  const get = (name: string) => {
    const v = env[name];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const own = s3EnvPrefix(poolId);
  const id = get(`${own}ACCESS_KEY_ID`);
  const secret = get(`${own}SECRET_ACCESS_KEY`);
  if (id && secret) return { accessKeyId: id, secretAccessKey: secret };
  const sharedId = get('FENNEC_S3_ACCESS_KEY_ID');
  const sharedSecret = get('FENNEC_S3_SECRET_ACCESS_KEY');
  return sharedId && sharedSecret ? { accessKeyId: sharedId, secretAccessKey: sharedSecret } : undefined;
}

const ID = /^[a-z0-9][a-z0-9-]*$/;
/** Where the coordinator publishes its JWKS when FENNEC_JWKS_URL does not say otherwise. */
const JWKS_PATH = '/.well-known/jwks.json';

/** One pool this node stores files in (an entry of FENNEC_POOLS). */
const diskPoolSchema = z.object({
  type: z.literal('disk'),
  id: z.string().regex(ID, 'pool id must match [a-z0-9-]+'),
  tier: z.enum(TIERS),
  /** Absolute directory; `tmp/` inside it must be on the same filesystem as `original/` (atomic rename). */
  path: z.string({ error: 'a disk pool needs an absolute path' }).refine((p) => path.isAbsolute(p), 'pool path must be absolute'),
  public_base_url: z.string().url(),
  /** Caps the capacity this node reports for the pool (a shared disk, a soft quota); null = whole disk. */
  max_bytes: z.number().int().positive().nullable().optional().default(null),
  /** Which variants this pool makes and how (sizes, formats, quality, effort); unset = DEFAULT_RECIPE. */
  variants: variantRecipeSchema,
  /** S3 bucket the pool's originals are backed up to (storage-node/backup/); unset = no backup. */
  backup: backupSchema.optional(),
});

/**
 * A disk pool as the node uses it: without `type` (disk pools kept the shape they had before s3
 * pools existed). A parsed config always fills `variants`; pools built directly (tests) may leave
 * it out, and every reader falls back to DEFAULT_RECIPE.
 */
export type PoolConfig = Omit<z.output<typeof diskPoolSchema>, 'type' | 'variants'> & { variants?: VariantRecipe };

/** 1 PiB: large enough that a bucket is never "full" to the coordinator's move planning. */
export const DEFAULT_S3_POOL_CAPACITY = 2 ** 50;
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600; // SigV4's own limit for a presigned URL

/** Where a bucket is and how to address it. */
const s3LocationSchema = z
  .object({
    /** Unset = AWS for `region`; B2, MinIO, s3rver: their URL. */
    endpoint: z.string().url().optional(),
    region: z.string().min(1).default('us-east-1'),
    bucket: z.string({ error: 'an s3 pool needs s3.bucket' }).min(1, 'an s3 pool needs s3.bucket'),
    /** Key prefix without leading or trailing slashes ('' = none). */
    prefix: z
      .string()
      .default('')
      .transform((p) => p.replace(/^\/+|\/+$/g, '')),
    force_path_style: z.boolean().default(false),
  })
  .strict();
export type S3Location = z.output<typeof s3LocationSchema>;

/**
 * A pool of type `s3` (the S3 cold tier): no directory, its files live in a bucket under
 * `{s3.prefix}/{pool-relative path}`. Declared on the node whose environment holds the bucket's
 * credentials (the gateway); that node redirects reads to presigned URLs and is the only one
 * that can move objects in. Never takes uploads.
 */
const s3PoolSchema = z
  .object({
    type: z.literal('s3'),
    id: z.string().regex(ID, 'pool id must match [a-z0-9-]+'),
    tier: z.enum(TIERS),
    /** Its path is where this node answers for the pool (302 to the bucket); the coordinator's object URLs use it. */
    public_base_url: z.string().url(),
    s3: s3LocationSchema,
    /** How long a presigned GET is valid (a private file's is capped by its signed URL's expiry). */
    presign_seconds: z
      .number()
      .int()
      .min(60, 'presign_seconds is at least 60')
      .max(MAX_PRESIGN_SECONDS, 'presign_seconds is at most 7 days (SigV4)')
      .default(3600),
    /** What the heartbeat reports as the pool's size (a bucket has none); moves need room to pick it. */
    capacity_bytes: z.number().int().positive().default(DEFAULT_S3_POOL_CAPACITY),
    // Named so a disk-pool habit gets a clear message instead of a silently ignored key.
    path: z.never({ error: 'an s3 pool has no path: its files are in the bucket' }).optional(),
    max_bytes: z.never({ error: 'an s3 pool has no max_bytes: use capacity_bytes' }).optional(),
    backup: z.never({ error: 'an s3 pool has no backup target: it is the bucket' }).optional(),
    variants: z.never({ error: 'an s3 pool makes no variants: they move in from the disk pool' }).optional(),
  })
  .transform(({ path: _p, max_bytes: _m, backup: _b, variants: _v, ...p }) => p);
export type S3PoolConfig = z.output<typeof s3PoolSchema>;

/** `type` defaults to `disk`, so every FENNEC_POOLS written before s3 pools existed means what it meant. */
const poolSchema = z.preprocess(
  (v) => (v !== null && typeof v === 'object' && !('type' in v) ? { ...v, type: 'disk' } : v),
  z.discriminatedUnion('type', [diskPoolSchema, s3PoolSchema], { error: 'pool type must be "disk" or "s3"' }),
);

const basePath = (url: string) => new URL(url).pathname.replace(/\/+$/, '');

/**
 * FENNEC_POOLS: a JSON array of pools with unique ids and unique directories; an s3 pool's
 * public_base_url path is its own (the node answers it with redirects, never from a disk).
 */
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
      ids.add(p.id);
      if (p.type === 's3') {
        const base = basePath(p.public_base_url);
        const other = pools.find((q) => q !== p && basePath(q.public_base_url) === base);
        if (other)
          ctx.addIssue({
            code: 'custom',
            message: `s3 pool ${p.id} shares its public_base_url path "${base || '/'}" with pool ${other.id}; give it its own (e.g. ${base}/${p.id})`,
          });
        continue;
      }
      const dir = path.resolve(p.path);
      if (dirs.has(dir)) ctx.addIssue({ code: 'custom', message: `two pools share the directory ${dir}` });
      dirs.add(dir);
    }
  })
  .transform((pools) => ({
    // Disk pools keep the shape they always had (no `type`): every caller of cfg.pools is unchanged.
    disk: pools.flatMap((p) => {
      if (p.type === 's3') return [];
      const { type: _t, ...disk } = p;
      return [{ ...disk, path: path.resolve(disk.path) }];
    }),
    s3: pools.filter((p): p is S3PoolConfig => p.type === 's3'),
  }));

/** FENNEC_POOLS split by kind. */
export type NodePools = z.output<typeof poolsSchema>;

const required = (name: string) => z.string({ error: `${name} is required` }).min(1, `${name} is required`);
const absPath = (name: string) => required(name).refine((p) => path.isAbsolute(p), `${name} must be an absolute path`);
const nodeId = z.string({ error: 'FENNEC_NODE_ID is required' }).regex(ID, 'FENNEC_NODE_ID must match [a-z0-9-]+');

/** `FOO=` in an env file means "not set", not "set to nothing". */
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

/** What `fennec-node init` needs: enough to create the identity key and the pool markers. */
export const initConfigSchema = z
  .object({
    FENNEC_NODE_ID: nodeId,
    FENNEC_NODE_KEY_FILE: absPath('FENNEC_NODE_KEY_FILE'),
    FENNEC_POOLS: poolsSchema,
  })
  .transform((e) => ({ nodeId: e.FENNEC_NODE_ID, nodeKeyFile: e.FENNEC_NODE_KEY_FILE, pools: e.FENNEC_POOLS.disk }));
export type InitConfig = z.infer<typeof initConfigSchema>;

/** Default FENNEC_VARIANT_MAX_PIXELS (why 50 MP: at the setting). */
export const DEFAULT_VARIANT_MAX_PIXELS = 50_000_000;

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
    // Keys over plain http from another host (key-source.ts): only for a private network without TLS.
    FENNEC_ALLOW_INSECURE_KEYS: env.bool(false),
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
    // `child`: the node forks and restarts `fennec-node worker` itself (npm start, tests).
    // `external`: it does not; systemd runs the worker as fennec-node-worker@.service, in its own
    // cgroup with its own MemoryMax, so libvips can never take the upload process down with it.
    FENNEC_WORKER_MODE: z.enum(['child', 'external']).default('child'),
    // Variant jobs: one image at a time, its encodes side by side on every core (each encode is
    // one libvips thread). Uploads are I/O and one hash on the event loop: the OS shares the
    // cores fairly; FENNEC_VARIANT_PARALLEL=1 leaves a whole core to uploads.
    FENNEC_JOB_CONCURRENCY: env.int(1, 1),
    FENNEC_VARIANT_PARALLEL: env.int(os.availableParallelism(), 1),
    // 50 MP: a 48 MP phone photo passes; the worst PNG it admits peaks the worker at 1.22 GiB RSS
    // (pipeline.ts SIDE_BY_SIDE_MAX_PIXELS), under the worker unit's MemoryMax=1536M. At the old
    // 100 MP a 311 KB PNG took the worker to 2.7 GiB (2.3 GiB even one encode at a time).
    FENNEC_VARIANT_MAX_PIXELS: env.int(DEFAULT_VARIANT_MAX_PIXELS, 1),
    FENNEC_JOB_ATTEMPTS: env.int(5, 1),
    FENNEC_JOB_BACKOFF_MS: env.int(2000, 1),
    FENNEC_JOB_LOCK_MS: env.int(30_000, 500),
    // A main-lane job (variants, replicate, move, delete, restore) running longer than this ends
    // its worker process (worker-process.ts). Variants of a 12 MP photo take seconds; the worst
    // image the pixel cap admits takes ~12 CPU-s (tens of seconds on a busy 2-core VPS); a 5 GB
    // replicate at the default 50 MB/s cap takes under 2 minutes. 10 minutes is none of those.
    FENNEC_JOB_TIMEOUT_MS: env.int(600_000, 0),
    FENNEC_JOB_MARKER_CHECK_MS: env.int(5000, 100),
    // Copies: node → node PUTs share the VPS uplink with uploads and downloads, so they are capped.
    FENNEC_REPLICATION_BYTES_PER_SEC: env.int(50 * 1024 * 1024, 0),
    // Scrub: when it runs (node-cron, seconds field allowed) and how fast it may read originals.
    // Checked here, with every other setting: a bad expression found only by the worker would crash-loop it.
    FENNEC_SCRUB_CRON: z
      .string()
      .min(1)
      .default('17 3 * * *')
      .refine((v) => cron.validate(v), 'FENNEC_SCRUB_CRON is not a cron expression'),
    FENNEC_SCRUB_BYTES_PER_SEC: env.int(20 * 1024 * 1024, 1),
    // Backup jobs retry this often with a capped exponential backoff, so an S3 outage of hours
    // ends in uploads, not in failed jobs (a job that still fails is re-added by the resync).
    FENNEC_BACKUP_ATTEMPTS: env.int(50, 1),
    FENNEC_BACKUP_BACKOFF_MS: env.int(2000, 1),
    FENNEC_BACKUP_MAX_BACKOFF_MS: env.int(10 * 60 * 1000, 1),
    FENNEC_BACKUP_RESYNC_MS: env.int(5 * 60 * 1000, 100),
  })
  // Credentials are read by name per pool, so the variables are not all known to the schema.
  .loose()
  .superRefine((e, ctx) => {
    // zod runs this even when FENNEC_POOLS itself failed (the value is then untransformed; its issues are already reported).
    const pools = e.FENNEC_POOLS as NodePools | undefined;
    if (!Array.isArray(pools?.disk)) return;
    const need = [
      ...pools.disk.filter((p) => p.backup).map((p) => ({ id: p.id, what: 'the backup of pool' })),
      ...pools.s3.map((p) => ({ id: p.id, what: 's3 pool' })),
    ];
    const missing = need.filter((p) => !credentialsFor(p.id, e));
    if (missing.length > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['FENNEC_S3_ACCESS_KEY_ID'],
        message: `no S3 credentials for ${missing.map((p) => `${p.what} ${p.id}`).join(', ')}: set FENNEC_S3_ACCESS_KEY_ID and FENNEC_S3_SECRET_ACCESS_KEY, or ${missing.map((p) => `${s3EnvPrefix(p.id)}ACCESS_KEY_ID/_SECRET_ACCESS_KEY`).join(', ')}`,
      });
  })
  .superRefine((e, ctx) => {
    // The key sets refuse an insecure URL when they are built (jwks.ts); checked here too, so a
    // bad one is listed with every other bad value instead of failing alone at start-up.
    for (const { variable, what, url } of keySources(e)) {
      const problem = keySourceProblem(what, url, e.FENNEC_ALLOW_INSECURE_KEYS === true);
      if (problem) ctx.addIssue({ code: 'custom', path: [variable], message: problem });
    }
  })
  .transform((e) => {
    const coordinatorUrl = e.FENNEC_COORDINATOR_URL.replace(/\/+$/, '');
    return {
      nodeId: e.FENNEC_NODE_ID,
      listenHost: e.FENNEC_LISTEN_HOST,
      listenPort: e.FENNEC_LISTEN_PORT,
      /** Undefined = http://HOST:PORT with the port actually bound (port 0 works). */
      publicUrl: e.FENNEC_PUBLIC_URL?.replace(/\/+$/, ''),
      /** Disk pools: directories on this node (uploads, variants, scrub, backups). */
      pools: e.FENNEC_POOLS.disk,
      /** s3 pools (cold tier in a bucket) with their credentials; never logged. */
      s3Pools: e.FENNEC_POOLS.s3.map((config): S3PoolEntry => ({ config, credentials: credentialsFor(config.id, e)! })),
      stateDir: e.FENNEC_STATE_DIR,
      nodeKeyFile: e.FENNEC_NODE_KEY_FILE,
      coordinatorUrl,
      jwksUrl: e.FENNEC_JWKS_URL ?? `${coordinatorUrl}${JWKS_PATH}`,
      /** A static JWKS file wins over the URL when set. */
      jwksFile: e.FENNEC_JWKS_FILE,
      /** Key sets may be fetched over plain http from another host (FENNEC_ALLOW_INSECURE_KEYS). */
      allowInsecureKeys: e.FENNEC_ALLOW_INSECURE_KEYS,
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
      workerMode: e.FENNEC_WORKER_MODE,
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
        /** Main lane: a job running this long ends the worker process (0: no limit). */
        timeoutMs: e.FENNEC_JOB_TIMEOUT_MS,
        markerCheckMs: e.FENNEC_JOB_MARKER_CHECK_MS,
      },
      /** Cap on bytes per second this node sends to peers (replication, moves, repair); 0 = none. */
      replicationBytesPerSec: e.FENNEC_REPLICATION_BYTES_PER_SEC,
      scrub: {
        /** node-cron expression (6 fields = with seconds). */
        cron: e.FENNEC_SCRUB_CRON,
        bytesPerSec: e.FENNEC_SCRUB_BYTES_PER_SEC,
      },
      backup: {
        attempts: e.FENNEC_BACKUP_ATTEMPTS,
        backoffMs: e.FENNEC_BACKUP_BACKOFF_MS,
        maxBackoffMs: e.FENNEC_BACKUP_MAX_BACKOFF_MS,
        /** Every pending backup is re-added this often (one that failed for good comes back). */
        resyncMs: e.FENNEC_BACKUP_RESYNC_MS,
        /** Per pool with a backup target; never logged. */
        credentials: Object.fromEntries(
          e.FENNEC_POOLS.disk.flatMap((p) => {
            const c = p.backup ? credentialsFor(p.id, e) : undefined;
            return c ? [[p.id, c] as const] : [];
          }),
        ) as Record<string, S3Credentials>,
      },
      /** The coordinator's list of node identity keys: peers' replication PUTs are checked against it. */
      nodeKeysUrl: `${coordinatorUrl}${NODE_KEYS_PATH}`,
    };
  });
export type NodeConfig = z.infer<typeof nodeConfigSchema>;

/**
 * The URLs the node fetches verification keys from, by the variable that sets each: the JWKS
 * (not fetched when FENNEC_JWKS_FILE pins it) and the node-key list (always fetched, from the
 * coordinator). Values that failed their own check are left to that check's message.
 */
function keySources(e: Record<string, unknown>): { variable: string; what: string; url: string }[] {
  const coordinator =
    typeof e.FENNEC_COORDINATOR_URL === 'string' && URL.canParse(e.FENNEC_COORDINATOR_URL)
      ? e.FENNEC_COORDINATOR_URL.replace(/\/+$/, '')
      : undefined;
  const jwksUrl = typeof e.FENNEC_JWKS_URL === 'string' && URL.canParse(e.FENNEC_JWKS_URL) ? e.FENNEC_JWKS_URL : undefined;
  const pinned = typeof e.FENNEC_JWKS_FILE === 'string' && e.FENNEC_JWKS_FILE !== '';
  const out: { variable: string; what: string; url: string }[] = [];
  if (!pinned && jwksUrl) out.push({ variable: 'FENNEC_JWKS_URL', what: "the coordinator's JWKS", url: jwksUrl });
  if (coordinator) {
    // One message when both come from the coordinator URL (no FENNEC_JWKS_URL): same origin.
    const jwksToo = !pinned && e.FENNEC_JWKS_URL === undefined;
    const what = jwksToo
      ? `the coordinator's JWKS (${JWKS_PATH}) and node-key list (${NODE_KEYS_PATH})`
      : `the node-key list (${NODE_KEYS_PATH})`;
    out.push({ variable: 'FENNEC_COORDINATOR_URL', what, url: `${coordinator}${NODE_KEYS_PATH}` });
  }
  return out;
}
