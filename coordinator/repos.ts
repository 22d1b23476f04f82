import type { Database } from 'better-sqlite3';
import { appsRepo } from './db/apps.js';
import { backupsRepo } from './db/backups.js';
import { copiesRepo } from './db/copies.js';
import { deletedObjectsRepo } from './db/deleted-objects.js';
import { deletionsRepo } from './db/deletions.js';
import { movesRepo } from './db/moves.js';
import { nodesRepo } from './db/nodes.js';
import { objectsRepo } from './db/objects.js';
import { poolsRepo } from './db/pools.js';
import { restorableRepo } from './db/restorable.js';
import { sessionsRepo } from './db/sessions.js';
import { usersRepo } from './db/users.js';
import type { CoordinatorDeps } from './deps.js';

/**
 * Prepares every statement once, at start, so no request pays for parsing SQL. Each table has
 * one repo that writes it; a repo whose transactions change other tables is handed their owners.
 */
export function createRepos(db: Database): CoordinatorDeps['repos'] {
  const objects = objectsRepo(db);
  const pools = poolsRepo(db);
  const users = usersRepo(db);
  const copies = copiesRepo(db, objects);
  const moves = movesRepo(db, { copies, objects, pools });
  const deletedObjects = deletedObjectsRepo(db);
  const backups = backupsRepo(db, deletedObjects);
  return {
    copies,
    moves,
    apps: appsRepo(db),
    nodes: nodesRepo(db, { objects, pools }),
    pools,
    users,
    sessions: sessionsRepo(db, { objects, copies, pools, users }),
    objects,
    backups,
    deletions: deletionsRepo(db, { objects, copies, moves, backups, users, deletedObjects }),
    restorable: restorableRepo(db),
  };
}
