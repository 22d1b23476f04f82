import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from './logger.js';

export interface DeliveryLoopOptions<Row> {
  /** Rows due now, at most `limit` (from a persistent outbox table). */
  due(nowMs: number, limit: number): Row[];
  /** When the next row falls due, if any; the loop sleeps until then (at most `pollMs`). */
  nextAt(): number | undefined;
  /** Delivers one row and records the outcome itself (done, retry later, dead). */
  deliver(row: Row): Promise<void>;
  batch: number;
  /** One at a time keeps a node's callbacks in order; parallel suits independent receivers. */
  parallel: boolean;
  logger: Logger;
  name: string;
  pollMs?: number;
}

/**
 * The loop behind every persistent outbox (node → coordinator callbacks, coordinator → app
 * webhooks): take the due rows, deliver them, then sleep until the next row is due or until
 * `wake()` says a new row was written. `stop()` lets the running batch finish; safe twice.
 */
export class DeliveryLoop<Row> {
  #wake: (() => void) | undefined;
  #stopped = false;
  #loop: Promise<void> | undefined;

  constructor(private readonly opts: DeliveryLoopOptions<Row>) {}

  start(): void {
    this.#loop ??= this.#run();
  }

  wake(): void {
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { opts } = this;
    const pollMs = opts.pollMs ?? 1000;
    while (!this.#stopped) {
      let rows: Row[] = [];
      try {
        rows = opts.due(Date.now(), opts.batch);
        if (opts.parallel) await Promise.all(rows.map((r) => opts.deliver(r)));
        else
          for (const row of rows) {
            if (this.#stopped) break;
            await opts.deliver(row);
          }
      } catch (err) {
        opts.logger.error({ err }, `${opts.name} loop failed`);
      }
      if (this.#stopped) break;
      if (rows.length === opts.batch) continue;
      let next: number | undefined;
      try {
        next = opts.nextAt();
      } catch {
        next = undefined;
      }
      const wait = Math.max(0, Math.min(pollMs, next === undefined ? pollMs : next - Date.now()));
      const ac = new AbortController();
      this.#wake = () => ac.abort();
      await sleep(wait, undefined, { signal: ac.signal }).catch(() => undefined);
      this.#wake = undefined;
    }
  }
}
