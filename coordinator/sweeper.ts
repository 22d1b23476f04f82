import type { Logger } from 'pino';
import type { SessionsRepo } from './db/sessions.js';

/**
 * Releases the reservations of sessions nobody finished: every `intervalMs`, open sessions whose
 * expiry plus grace passed become 'expired' and give their bytes back to the pool and the user.
 * The grace covers a slow upload that started before the token expired and is still flowing.
 */
export function startSweeper(opts: {
  sessions: SessionsRepo;
  logger: Logger;
  graceMs: number;
  intervalMs?: number;
  onExpired?: (n: number) => void;
}): { stop(): void; sweep(now?: number): number } {
  const batch = 500;
  function sweep(now: number = Date.now()): number {
    let total = 0;
    // Small batches keep each write transaction short, so session requests never wait long.
    for (;;) {
      const n = opts.sessions.expire(now - opts.graceMs, batch);
      total += n;
      if (n < batch) break;
    }
    if (total > 0) {
      opts.onExpired?.(total);
      opts.logger.info({ released: total }, 'expired upload sessions released');
    }
    return total;
  }
  const timer = setInterval(() => {
    try {
      sweep();
    } catch (err) {
      opts.logger.error({ err }, 'session sweep failed');
    }
  }, opts.intervalMs ?? 5000);
  timer.unref();
  return { stop: () => clearInterval(timer), sweep };
}
