import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { createShutdown } from './shutdown.js';

describe('shutdown steps', () => {
  it('run once, in order; a failing or hanging step never keeps the later ones from running', async () => {
    const ran: string[] = [];
    const shutdown = createShutdown(createLogger({ name: 't', level: 'silent' }), [
      { name: 'a', run: () => void ran.push('a') },
      {
        name: 'fails',
        run: () => {
          ran.push('fails');
          throw new Error('boom');
        },
      },
      { name: 'hangs', run: () => (ran.push('hangs'), new Promise(() => undefined)), timeoutMs: 50 },
      { name: 'last', run: async () => void ran.push('last') },
    ]);
    const t0 = Date.now();
    await Promise.all([shutdown(), shutdown()]);
    expect(ran).toEqual(['a', 'fails', 'hangs', 'last']);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});
