import type { Database } from 'better-sqlite3';
import { appsRepo } from './db/apps.js';
import { backupsRepo } from './db/backups.js';
import { copiesRepo } from './db/copies.js';
import { deletionsRepo } from './db/deletions.js';
import { movesRepo } from './db/moves.js';
import { nodesRepo } from './db/nodes.js';
import { objectsRepo } from './db/objects.js';
import { poolsRepo } from './db/pools.js';
import { sessionsRepo } from './db/sessions.js';
import { usersRepo } from './db/users.js';
import type { CoordinatorDeps } from './deps.js';

/** Prepares every statement once, at start, so no request pays for parsing SQL. */
export function createRepos(db: Database): CoordinatorDeps['repos'] {
  const copies = copiesRepo(db);
  return {
    copies,
    moves: movesRepo(db, copies),
    apps: appsRepo(db),
    nodes: nodesRepo(db),
    pools: poolsRepo(db),
    users: usersRepo(db),
    sessions: sessionsRepo(db),
    objects: objectsRepo(db),
    backups: backupsRepo(db),
    deletions: deletionsRepo(db),
  };
}
