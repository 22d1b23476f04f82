import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config.js';
import { JOB_POLICY } from '../../shared/jobs.js';
import { nodeConfigSchema } from '../config.js';

const env = {
  FENNEC_NODE_ID: 'n1',
  FENNEC_POOLS: JSON.stringify([{ id: 'p1', tier: 'hot', path: '/srv/p1', public_base_url: 'http://127.0.0.1:8081' }]),
  FENNEC_STATE_DIR: '/var/lib/fennec',
  FENNEC_NODE_KEY_FILE: '/etc/fennec/node.pem',
  FENNEC_COORDINATOR_URL: 'https://coord:8080/',
};

/** The node's own kinds retry as its config says; unset, that is what JOB_POLICY says. */
describe('node job config defaults', () => {
  it('are the policy table values', () => {
    const cfg = parseConfig(nodeConfigSchema, env);
    for (const phase of ['thumbnails', 'full'] as const)
      expect({ attempts: cfg.jobs.attempts, backoff: { delayMs: cfg.jobs.backoffMs } }).toEqual({
        attempts: JOB_POLICY[phase].attempts,
        backoff: JOB_POLICY[phase].backoff,
      });
    expect({ attempts: cfg.backup.attempts, backoff: { delayMs: cfg.backup.backoffMs, maxDelayMs: cfg.backup.maxBackoffMs } }).toEqual({
      attempts: JOB_POLICY.backup.attempts,
      backoff: JOB_POLICY.backup.backoff,
    });
  });
});
