import type { Database } from 'better-sqlite3';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CoordinatorConfig } from './config.js';
import type { AppsRepo } from './db/apps.js';
import type { BackupsRepo } from './db/backups.js';
import type { CopiesRepo } from './db/copies.js';
import type { DeletionsRepo } from './db/deletions.js';
import type { MovesRepo } from './db/moves.js';
import type { NodesRepo } from './db/nodes.js';
import type { ObjectsRepo } from './db/objects.js';
import type { PoolsRepo } from './db/pools.js';
import type { RestorableRepo } from './db/restorable.js';
import type { SessionsRepo } from './db/sessions.js';
import type { UsersRepo } from './db/users.js';
import type { HeartbeatSnapshot } from './heartbeats.js';
import type { UrlSigner } from './image-view.js';
import type { CoordinatorMetrics } from './metrics.js';
import type { NodeJobs } from './node-jobs.js';
import type { SessionRateLimits } from './rate-limit.js';
import type { SigningKeys } from './signing-keys.js';

/** The settings routes read (a subset of CoordinatorConfig, so tests can build it directly). */
export type AppSettings = Pick<
  CoordinatorConfig,
  'adminKey' | 'issuer' | 'tokenTtlSeconds' | 'maxFileBytes' | 'defaultQuotaBytes' | 'heartbeatMaxAgeMs'
> &
  Partial<Pick<CoordinatorConfig, 'privateUrlTtlSeconds' | 'backupDeleteGraceSeconds' | 'webhooks' | 'sessionGraceSeconds'>>;

/** Signs private files' URLs with the current upload-token key (default lifetime one hour). */
export function urlSigner(deps: Pick<CoordinatorDeps, 'signingKeys' | 'settings'>): UrlSigner {
  return {
    key: deps.signingKeys.privateKey,
    kid: deps.signingKeys.kid,
    ttlSeconds: deps.settings.privateUrlTtlSeconds ?? 3600,
  };
}

/** Everything the HTTP app needs, built once in main.ts (or a test). */
export interface CoordinatorDeps {
  settings: AppSettings;
  logger: Logger;
  db: Database;
  redis: Redis;
  repos: {
    apps: AppsRepo;
    nodes: NodesRepo;
    pools: PoolsRepo;
    users: UsersRepo;
    sessions: SessionsRepo;
    objects: ObjectsRepo;
    copies: CopiesRepo;
    moves: MovesRepo;
    backups: BackupsRepo;
    deletions: DeletionsRepo;
    restorable: RestorableRepo;
  };
  heartbeats: HeartbeatSnapshot;
  rateLimits: SessionRateLimits;
  signingKeys: SigningKeys;
  metrics: CoordinatorMetrics;
  /** Wakes the webhook dispatcher after a row is queued (absent in tests that send none). */
  webhooks?: { wake: () => void };
  /** Wakes the durability loop (replication, repair, moves) after a change it should act on. */
  durability?: { wake: () => void };
  /** Adds copy work to node queues (admin calls that act at once, e.g. a node declared lost). */
  jobs?: NodeJobs;
  /** Per-node job queue counts, read from Redis (GET /api/v1/admin/queues). */
  queues?: { counts: (nodeIds: string[]) => Promise<NodeQueueCounts[]> };
}

export interface NodeQueueCounts {
  node_id: string;
  /** The node's main queue; `counts` also include its other lanes (backup). */
  queue: string;
  counts: Record<string, number> | null;
  /** Each lane's own counts (absent when Redis did not answer). */
  lanes?: Record<string, Record<string, number>>;
  error?: string;
}
