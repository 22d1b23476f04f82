import { setTimeout as sleep } from 'node:timers/promises';
import cron, { type ScheduledTask } from 'node-cron';
import type { DurabilityDeps, DurabilitySettings, TickContext } from './context.js';
import { deleteExpiredBackups } from './deletions.js';
import { applyLiveness } from './liveness.js';
import { advanceMoves, reensureMoveItems, retireDrained } from './moves.js';
import { failoverPrimaries, planReplicas, reensureCopies, repairCorrupt, trimSurplus } from './repair.js';
import { restoreFromBackups, restoreMemory } from './restore.js';
import { planTiering } from './tiering.js';

/** Tiering runs when the cron schedule asked for it, or (without a schedule) once per interval. */
export function tieringDue(o: {
  now: number;
  lastAt: number;
  requested: boolean;
  settings: Pick<DurabilitySettings, 'tieringCron' | 'tieringIntervalMs'>;
}): boolean {
  if (o.requested) return true;
  if (o.settings.tieringCron) return false;
  return o.now - o.lastAt >= (o.settings.tieringIntervalMs ?? 3_600_000);
}

export type TickReport = Awaited<ReturnType<DurabilityLoop['tick']>>;

/**
 * The coordinator's durability work: node liveness, replication to each pool's factor, repair of
 * corrupt and lost copies, restore from S3 of objects only the backup still has, removal of surplus copies, primary failover, pool moves, tiering and the deletion of deleted images' backups after their grace period. One tick at
 * a time, every repairIntervalMs or sooner when woken (an upload to a replicated pool, an admin
 * call). Everything a tick does is recorded in SQLite before or as its job is added, and jobs
 * are added by deterministic id, so a tick cut short or repeated is harmless.
 */
export class DurabilityLoop {
  #chain: Promise<unknown> = Promise.resolve();
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #woken = false;
  #stopped = false;
  readonly #cursor = { after: '' };
  readonly #lostLogged = new Set<string>();
  readonly #restore = restoreMemory();
  readonly #gaveUp = new Map<string, Set<string>>();
  #tieredAt = -Infinity;
  #tieringRequested = false;
  #tieringTask: ScheduledTask | undefined;

  constructor(private readonly deps: DurabilityDeps) {}

  start(): void {
    const expr = this.deps.settings.tieringCron;
    if (expr && !this.#tieringTask) this.#tieringTask = cron.schedule(expr, () => this.requestTiering(), { name: 'tiering' });
    this.#loop ??= this.#run();
  }

  /** Tiering policies are applied in the next tick (the cron schedule's call; also for tests). */
  requestTiering(): void {
    this.#tieringRequested = true;
    this.wake();
  }

  /** Runs a tick soon; a wake during a tick runs another right after it. */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /** Lets the running tick finish; safe to call twice. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#tieringTask?.destroy();
    this.#wake?.();
    await this.#loop;
    await this.#chain.catch(() => undefined);
  }

  /** One tick (queued behind a running one, never beside it). Exposed for tests and admin calls. */
  tick(now?: number) {
    const next = this.#chain.then(() => this.#tick(now ?? Date.now()));
    this.#chain = next.catch(() => undefined);
    return next;
  }

  async #tick(now: number) {
    const { repos, heartbeats } = this.deps;
    const ctx: TickContext = {
      now,
      nodes: new Map(repos.nodes.list().map((n) => [n.node_id, n])),
      heartbeats: await heartbeats.get(),
      drainingPools: new Set(
        repos.moves
          .active()
          .filter((m) => m.kind !== 'tier')
          .map((m) => m.source_pool_id),
      ),
      plannedBytes: repos.copies.pendingBytes(),
      gaveUp: this.#gaveUp,
    };
    // A memory aid, not state: forgetting it only means a failing target may be tried again.
    if (this.#gaveUp.size > 10_000) this.#gaveUp.clear();
    const liveness = applyLiveness(this.deps, ctx, this.#lostLogged);
    const failover = failoverPrimaries(this.deps, ctx);
    let tiering: ReturnType<typeof planTiering> | undefined;
    if (tieringDue({ now, lastAt: this.#tieredAt, requested: this.#tieringRequested, settings: this.deps.settings })) {
      this.#tieredAt = now;
      this.#tieringRequested = false;
      tiering = planTiering(this.deps, ctx);
    }
    const moves = await advanceMoves(this.deps, ctx);
    const moveJobs = await reensureMoveItems(this.deps, ctx);
    const copyJobs = await reensureCopies(this.deps, ctx);
    const replicas = await planReplicas(this.deps, ctx, this.#cursor);
    const restores = await restoreFromBackups(this.deps, ctx, this.#restore);
    const corrupt = await repairCorrupt(this.deps, ctx);
    const surplus = await trimSurplus(this.deps, ctx);
    const retire = retireDrained(this.deps, ctx);
    const deletedBackups = await deleteExpiredBackups(this.deps, ctx);
    return { liveness, failover, tiering, moves, moveJobs, copyJobs, replicas, restores, corrupt, surplus, retire, deletedBackups };
  }

  async #run(): Promise<void> {
    const { logger, settings } = this.deps;
    while (!this.#stopped) {
      this.#woken = false;
      try {
        await this.tick();
      } catch (err) {
        logger.error({ err }, 'durability tick failed');
      }
      if (this.#stopped) break;
      // Woken during the tick: again soon, but a burst of uploads must not spin the scans.
      if (this.#woken) {
        await sleep(Math.min(250, settings.repairIntervalMs));
        continue;
      }
      const ac = new AbortController();
      this.#wake = () => ac.abort();
      await sleep(settings.repairIntervalMs, undefined, { signal: ac.signal }).catch(() => undefined);
      this.#wake = undefined;
    }
  }
}
