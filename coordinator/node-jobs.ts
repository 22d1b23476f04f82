import type { JobsOptions } from 'bullmq';
import { signJob } from '../shared/job-signature.js';
import { type CopyTarget, type JobData, jobId, policyOf, retryOptions } from '../shared/jobs.js';
import type { NodeRow } from './db/nodes.js';
import { nodeBaseUrl } from './node-urls.js';
import type { NodeQueues } from './queues.js';
import type { SigningKeys } from './signing-keys.js';

/** What `ensure` found: a job was added (or re-added after failing), one was there, or Redis failed. */
export type EnsureOutcome = 'added' | 're-added' | 'exists' | 'error';

export interface NodeJobs {
  /**
   * Makes sure the job for `data` is in the node's queue, by its deterministic id: a failed (or
   * completed and kept) job is removed and added again, a waiting/active/delayed one is left
   * alone. Never throws: Redis down is 'error' and the next durability tick tries again.
   */
  ensure(nodeId: string, data: JobData): Promise<EnsureOutcome>;
}

const DAY_S = 24 * 3600;

/**
 * The options of a job the coordinator adds: its kind's policy (shared/jobs.ts), its id, and the
 * node queues' retention (completed jobs go, failed ones stay a week for the operator).
 */
export function copyJobOptions(data: JobData): JobsOptions & { jobId: string } {
  const policy = policyOf(data);
  return {
    ...retryOptions(policy),
    removeOnComplete: true,
    removeOnFail: { age: 7 * DAY_S },
    jobId: jobId(data),
    priority: policy.priority,
  };
}

export interface NodeJobsOptions {
  queues: NodeQueues;
  /** The token `iss` and the current signing key: every job is signed for the node it is added to. */
  issuer: string;
  signingKeys: () => Pick<SigningKeys, 'kid' | 'privateKey'>;
  timeoutMs?: number;
  onError?: (err: Error, nodeId: string) => void;
}

export function nodeJobs(opts: NodeJobsOptions): NodeJobs {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const within = <T>(p: Promise<T>) =>
    Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('redis timeout')), timeoutMs).unref())]);

  return {
    async ensure(nodeId, data) {
      const q = opts.queues.get(nodeId, policyOf(data).lane);
      const jobOptions = copyJobOptions(data);
      try {
        const existing = await within(q.getJob(jobOptions.jobId));
        let outcome: EnsureOutcome = 'added';
        if (existing) {
          const state = await within(existing.getState());
          // BullMQ ignores an add whose id exists, so a finished job must go before it can run again.
          if (state !== 'failed' && state !== 'completed' && state !== 'unknown') return 'exists';
          if (state !== 'unknown') await within(existing.remove());
          outcome = 're-added';
        }
        const { kid, privateKey } = opts.signingKeys();
        // Signed at each add, so a job re-added after failing (an expired signature included) runs.
        const signed = await signJob(data, { issuer: opts.issuer, nodeId, key: privateKey, kid });
        await within(q.add(data.kind, signed, jobOptions));
        return outcome;
      } catch (err) {
        opts.onError?.(err as Error, nodeId);
        return 'error';
      }
    },
  };
}

export { nodeBaseUrl } from './node-urls.js';

export function copyTarget(node: Pick<NodeRow, 'node_id' | 'upload_api_url' | 'public_url'>, poolId: string): CopyTarget {
  return { node_id: node.node_id, pool_id: poolId, url: nodeBaseUrl(node) };
}
