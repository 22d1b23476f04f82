/**
 * Bytes that completed on each pool recently, kept in memory: a pool's heartbeat may not have
 * counted them yet, so placement must still treat them as taken. Reading them from SQLite cost
 * one query per candidate pool per session (with 500 nodes, 500 queries for every session).
 */
export class RecentCompletions {
  readonly #byPool = new Map<string, { at: number; size: number }[]>();

  /** Nothing older than this is kept even for a pool nobody asks about (a node gone quiet). */
  constructor(private readonly maxKeepMs = 5 * 60_000) {}

  add(poolId: string, at: number, size: number): void {
    let list = this.#byPool.get(poolId);
    if (!list) this.#byPool.set(poolId, (list = []));
    list.push({ at, size });
    const horizon = at - this.maxKeepMs;
    while (list.length > 0 && list[0]!.at < horizon) list.shift();
  }

  /**
   * Sum of sizes completed on the pool after `sinceMs`. A pool's heartbeat time only moves
   * forward, so entries at or before `sinceMs` will never count again and are dropped here.
   */
  since(poolId: string, sinceMs: number): number {
    const list = this.#byPool.get(poolId);
    if (!list) return 0;
    while (list.length > 0 && list[0]!.at <= sinceMs) list.shift();
    let sum = 0;
    for (const e of list) sum += e.size;
    return sum;
  }
}
