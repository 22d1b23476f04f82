import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { parseConfig } from '../../shared/config.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import { TMP_DIR } from '../../shared/paths.js';
import { redisKeys } from '../../shared/redis-keys.js';
import { RESTORE_LIST_DEFAULT_LIMIT } from '../../shared/restore.js';
import { createS3Client } from '../backup/s3.js';
import { composeNodeCore } from '../compose-core.js';
import { type NodeConfig, nodeConfigSchema } from '../config.js';
import { createStore } from '../db/store.js';
import { nextVariantJob } from '../jobs/kinds.js';
import { createNodeQueues } from '../jobs/node-queues.js';
import type { NodeJobs } from '../jobs/queue.js';
import { fetchRestorePage } from './list.js';
import { restorePool } from './restore.js';

/** Bad arguments or a pool this node cannot restore: exit 2, like a bad config. */
export class RestoreUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RestoreUsageError';
  }
}

const USAGE = 'usage: fennec-node restore --pool ID [--since DATE] [--env-file FILE]';
const DOWNLOADS_AT_ONCE = 4;

export function parseRestoreArgs(argv: string[]): { poolId: string; since: string | undefined } {
  let values: { pool?: string; since?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { pool: { type: 'string' }, since: { type: 'string' }, 'env-file': { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new RestoreUsageError(`${(err as Error).message}\n${USAGE}`);
  }
  if (!values.pool) throw new RestoreUsageError(`--pool is required\n${USAGE}`);
  if (values.since !== undefined && !Number.isFinite(Date.parse(values.since)))
    throw new RestoreUsageError(`--since: not a date: ${values.since} (e.g. 2026-01-31 or 2026-01-31T12:00:00Z)`);
  return { poolId: values.pool, since: values.since === undefined ? undefined : new Date(values.since).toISOString() };
}

/**
 * `fennec-node restore --pool ID [--since DATE]`: brings a pool's originals back from its S3
 * bucket while the node keeps running (the node's SQLite is shared in WAL mode; the running
 * node's worker makes the variants). Prints one JSON summary line; resolves the exit code.
 */
export async function restoreCommand(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const args = parseRestoreArgs(argv);
  const cfg = parseConfig(nodeConfigSchema, env);
  const poolCfg = cfg.pools.find((p) => p.id === args.poolId);
  if (!poolCfg)
    throw new RestoreUsageError(
      `pool ${args.poolId} is not a pool of node ${cfg.nodeId} (FENNEC_POOLS has ${cfg.pools.map((p) => p.id).join(', ')})`,
    );
  const credentials = cfg.backup.credentials[poolCfg.id];
  if (!poolCfg.backup || !credentials)
    throw new RestoreUsageError(`pool ${poolCfg.id} has no S3 backup target: there is nothing to restore it from`);
  // Logs go to stderr: stdout carries only the summary line.
  const logger = createLogger({ name: 'fennec-node-restore', level: cfg.logLevel, destination: process.stderr });
  // Not preparePool: its cleanup of tmp/ would remove the running node's uploads in flight.
  mkdirSync(path.join(poolCfg.path, TMP_DIR), { recursive: true });
  const { db, pools, nodeKey } = composeNodeCore(cfg, logger, { onlyPool: poolCfg.id });
  const pool = pools.get(poolCfg.id)!;
  const s3 = createS3Client(poolCfg.backup, credentials);
  const jobs = await variantsQueue(cfg, logger);
  try {
    const { summary, unqueued } = await restorePool({
      nodeId: cfg.nodeId,
      pool,
      db,
      store: createStore(db),
      s3,
      listPage: (after) =>
        fetchRestorePage(
          { coordinatorUrl: cfg.coordinatorUrl, nodeId: cfg.nodeId, nodeKey: nodeKey.privateKey },
          { poolId: poolCfg.id, since: args.since, after, limit: RESTORE_LIST_DEFAULT_LIMIT },
        ),
      enqueueVariants: async (uuid) => (jobs ? jobs.enqueue(nextVariantJob({ uuid, thumbnails_ready: 0 })) : false),
      concurrency: DOWNLOADS_AT_ONCE,
      logger,
    });
    // Rows committed with synchronous=NORMAL: make them durable before saying they are restored.
    db.pragma('wal_checkpoint(FULL)');
    if (unqueued > 0)
      process.stderr.write(
        `fennec-node restore: Redis is unreachable; ${unqueued} variants job(s) not queued — the node queues them from its SQLite on its next restart or queue resync\n`,
      );
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return summary.failed.length > 0 ? 1 : 0;
  } finally {
    await jobs?.close();
    s3.destroy();
    db.close();
  }
}

/** The node's own BullMQ queue, added to directly; undefined when Redis does not answer. */
async function variantsQueue(cfg: NodeConfig, logger: Logger) {
  const connection = new Redis(cfg.redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: () => null,
  });
  connection.on('error', () => undefined);
  try {
    await connection.connect();
  } catch {
    connection.disconnect();
    return undefined;
  }
  const jobs = createNodeQueues({
    cfg,
    connection,
    keys: redisKeys(cfg.redisPrefix),
    logger,
    role: 'queue',
    main: { pending: () => [] },
  }).main;
  return {
    enqueue: (data: Parameters<NodeJobs['enqueue']>[0]) => jobs.enqueue(data),
    close: async () => {
      await jobs.close();
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}
