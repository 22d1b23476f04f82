import { describe, expect, it } from 'vitest';
import { coordinatorEnvSchema } from '../config.js';
import { tieringDue } from './loop.js';

const base = { FENNEC_DATA_DIR: '/tmp/x', FENNEC_ADMIN_KEY: 'admin-key-0123456789' };

describe('when tiering runs', () => {
  it('without a schedule: once per interval; with one: only when the schedule asked', () => {
    const interval = { tieringIntervalMs: 1000 };
    expect(tieringDue({ now: 5000, lastAt: -Infinity, requested: false, settings: interval })).toBe(true);
    expect(tieringDue({ now: 5000, lastAt: 4500, requested: false, settings: interval })).toBe(false);
    expect(tieringDue({ now: 5000, lastAt: 4000, requested: false, settings: interval })).toBe(true);
    const cron = { tieringIntervalMs: 1000, tieringCron: '0 3 * * *' };
    expect(tieringDue({ now: 5000, lastAt: -Infinity, requested: false, settings: cron })).toBe(false);
    expect(tieringDue({ now: 5000, lastAt: 4999, requested: true, settings: cron })).toBe(true);
  });

  it('FENNEC_TIERING_CRON is checked at start', () => {
    expect(coordinatorEnvSchema.parse({ ...base, FENNEC_TIERING_CRON: '0 3 * * *' }).durability.tieringCron).toBe('0 3 * * *');
    expect(coordinatorEnvSchema.parse(base).durability.tieringCron).toBeUndefined();
    const bad = coordinatorEnvSchema.safeParse({ ...base, FENNEC_TIERING_CRON: 'nightly' });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toContain('FENNEC_TIERING_CRON is not a cron expression');
  });
});
