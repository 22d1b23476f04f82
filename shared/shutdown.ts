import type { Logger } from './logger.js';

export interface ShutdownStep {
  name: string;
  run: () => Promise<unknown> | unknown;
  /** How long the step may take before shutdown moves on (default STEP_TIMEOUT_MS). */
  timeoutMs?: number;
}

/**
 * A step that talks to Redis or the coordinator waits for them forever when they are gone —
 * and Ctrl-C on `npm start` stops them in the same breath as the node — so each step gets this
 * long, and the steps after it (the outbox, SQLite) still run.
 */
export const STEP_TIMEOUT_MS = 3000;

class StepTimeout extends Error {}

/**
 * Returns a memoized shutdown: the steps run once, in order, each in its own try/catch and
 * under its own time limit, so one failing or hanging step never skips the rest; calling it
 * again returns the same promise.
 */
export function createShutdown(logger: Logger, steps: ShutdownStep[]): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= (async () => {
      for (const step of steps) {
        const ms = step.timeoutMs ?? STEP_TIMEOUT_MS;
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            Promise.resolve().then(step.run),
            new Promise((_, reject) => (timer = setTimeout(() => reject(new StepTimeout()), ms))),
          ]);
          logger.debug({ step: step.name }, 'shutdown step done');
        } catch (err) {
          if (err instanceof StepTimeout) logger.warn({ step: step.name, after_ms: ms }, 'shutdown step did not finish in time; going on');
          else logger.error({ err, step: step.name }, 'shutdown step failed');
        } finally {
          clearTimeout(timer);
        }
      }
      logger.info('shutdown complete');
    })();
    return done;
  };
}
