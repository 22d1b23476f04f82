import cron, { type ScheduledTask } from 'node-cron';
import { emptySummary, type ScrubPassOptions, type ScrubSummary, scrubPass } from './pass.js';
import { createScrubRecords } from './records.js';

export { runScrubPass, type ScrubPassOptions, type ScrubReport, type ScrubSummary } from './pass.js';

export interface ScrubberOptions extends ScrubPassOptions {
  /** node-cron expression; 6 fields = with seconds (cfg.scrub.cron). */
  cron: string;
  /** IANA zone the expression is read in; default: the system's. */
  timezone?: string;
}

export interface Scrubber {
  /**
   * A pass now, outside the schedule. While one is running this returns that pass instead of
   * starting a second; after stop() it resolves an empty, aborted summary.
   */
  runOnce(): Promise<ScrubSummary>;
  /** Ends the schedule and aborts a running pass (waits for it to let go of files and SQLite). Safe twice. */
  stop(): Promise<void>;
}

/**
 * Re-reads the node's originals on a schedule (a node verifies its copies, repair is the
 * coordinator's): never two passes at once, and a tick that finds a pass still running is skipped.
 * Throws at once on an invalid cron expression.
 */
export function startScrubber(opts: ScrubberOptions): Scrubber {
  if (!cron.validate(opts.cron)) throw new Error(`scrub: invalid cron expression "${opts.cron}"`);
  const log = opts.logger.child({ component: 'scrub' });
  const passOpts = { ...opts, logger: log };
  const records = createScrubRecords(opts.db, opts.nodeId);
  const abort = new AbortController();
  let running: Promise<ScrubSummary> | undefined;
  let stopping: Promise<void> | undefined;

  const runOnce = (): Promise<ScrubSummary> => {
    if (abort.signal.aborted) return Promise.resolve(emptySummary(true));
    running ??= scrubPass(passOpts, records, abort.signal).finally(() => {
      running = undefined;
    });
    return running;
  };

  // Our own guard rather than node-cron's noOverlap: it also covers runOnce(), and noOverlap
  // warns on every skipped tick (every second with a seconds field).
  const tick = async () => {
    if (running) {
      log.debug('scrub tick skipped: a pass is still running');
      return;
    }
    await runOnce().catch((err: unknown) => log.error({ err }, 'scrub pass failed'));
  };

  const task: ScheduledTask = cron.schedule(opts.cron, tick, {
    name: 'scrub',
    timezone: opts.timezone,
    logger: {
      info: (m) => log.info(m),
      warn: (m) => log.warn(m),
      error: (m, e) => log.error({ err: e ?? m }, 'node-cron error'),
      debug: (m) => log.debug(typeof m === 'string' ? m : { err: m }),
    },
  });

  return {
    runOnce,
    stop: () =>
      (stopping ??= (async () => {
        await task.destroy();
        abort.abort();
        await running?.catch(() => undefined);
      })()),
  };
}
