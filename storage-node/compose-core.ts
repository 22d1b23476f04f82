import path from 'node:path';
import { type Ed25519Key, loadOrCreateEd25519Key } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { type RedisKeys, redisKeys } from '../shared/redis-keys.js';
import type { NodeConfig } from './config.js';
import { type Db, openDb } from './db/open.js';
import { PoolSet } from './pools.js';

// Apart from compose.ts so the job worker and the restore command load none of the HTTP side.

/** What every node process opens (the daemon, its job worker, the restore command). */
export interface NodeCore {
  cfg: NodeConfig;
  logger: Logger;
  dbFile: string;
  /** The node's SQLite, shared by the processes in WAL mode. */
  db: Db;
  pools: PoolSet;
  /** The node's Ed25519 identity: signs its reports to the coordinator and its replication PUTs. */
  nodeKey: Ed25519Key;
  keys: RedisKeys;
}

/**
 * Opens the node's SQLite, identity key and pools. `onlyPool` limits the pools to one disk pool
 * (the restore command, which must not touch the others while the node runs).
 */
export function composeNodeCore(cfg: NodeConfig, logger: Logger, opts: { onlyPool?: string } = {}): NodeCore {
  const nodeKey = loadOrCreateEd25519Key(cfg.nodeKeyFile);
  if (nodeKey.created) logger.info({ file: cfg.nodeKeyFile }, 'created node identity key');
  const dbFile = path.join(cfg.stateDir, 'node.db');
  const pools =
    opts.onlyPool === undefined ? new PoolSet(cfg.pools, cfg.s3Pools) : new PoolSet(cfg.pools.filter((p) => p.id === opts.onlyPool));
  return { cfg, logger, dbFile, db: openDb(dbFile), pools, nodeKey, keys: redisKeys(cfg.redisPrefix) };
}
