import type { Database, Statement } from 'better-sqlite3';
import type { PoolRow } from './pools.js';

const generations = new WeakMap<Database, number>();

/**
 * Called by the owners of the rows the cache reads, after each of their writes that changes what
 * placement sees: pools.ts (registration, not reservation, columns) and nodes.ts (state, removal).
 * Nothing else calls it: a caller composing those writes gets the invalidation with them.
 */
export function poolsChanged(db: Database): void {
  generations.set(db, (generations.get(db) ?? 0) + 1);
}

/**
 * Registered pools by tier and the bytes reserved on each, held in memory: placement reads them
 * on every session, and loading 500 pool rows from SQLite per session was most of its cost.
 * Rows are reloaded after any registration or node-state change (`poolsChanged`); reservations are changed by
 * the sessions repo only, in SQLite inside its transactions and here after they commit, so the
 * two never disagree and a reload starts from the committed figures.
 */
export class PoolCandidates {
  readonly #db: Database;
  readonly #all: Statement;
  #generation = -1;
  #byTier = new Map<string, PoolRow[]>();
  #reserved = new Map<string, number>();

  constructor(db: Database) {
    this.#db = db;
    // Only nodes in service take uploads: down, lost, draining and retired nodes are skipped even
    // while they heartbeat (a lost node that comes back must not get new files).
    this.#all = db.prepare("SELECT p.* FROM pools p JOIN nodes n ON n.node_id = p.node_id WHERE n.state = 'up'");
  }

  ofTier(tier: string): PoolRow[] {
    this.#load();
    return this.#byTier.get(tier) ?? [];
  }

  reserved(poolId: string): number {
    this.#load();
    return this.#reserved.get(poolId) ?? 0;
  }

  /** After a committed transaction moved a pool's reservation by `delta` bytes. */
  committed(poolId: string, delta: number): void {
    const current = this.#reserved.get(poolId);
    if (current !== undefined) this.#reserved.set(poolId, current + delta);
  }

  #load(): void {
    const generation = generations.get(this.#db) ?? 0;
    if (generation === this.#generation) return;
    const byTier = new Map<string, PoolRow[]>();
    const reserved = new Map<string, number>();
    for (const row of this.#all.all() as PoolRow[]) {
      let list = byTier.get(row.tier);
      if (!list) byTier.set(row.tier, (list = []));
      list.push(row);
      reserved.set(row.pool_id, row.reserved_bytes);
    }
    this.#byTier = byTier;
    this.#reserved = reserved;
    this.#generation = generation;
  }
}
