import type { Logger } from '../shared/logger.js';

export interface ShutdownStep {
  name: string;
  run: () => Promise<unknown> | unknown;
}

/**
 * Returns a memoized shutdown: the steps run once, in order, each in its own try/catch so one
 * failing step never skips the rest; calling it again returns the same promise.
 */
export function createShutdown(logger: Logger, steps: ShutdownStep[]): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= (async () => {
      for (const step of steps) {
        try {
          await step.run();
          logger.debug({ step: step.name }, 'shutdown step done');
        } catch (err) {
          logger.error({ err, step: step.name }, 'shutdown step failed');
        }
      }
      logger.info('shutdown complete');
    })();
    return done;
  };
}
