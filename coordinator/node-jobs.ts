import type { JobsOptions } from 'bullmq';
import { LEGACY_UPLOAD_PATH, UPLOAD_PATH } from '../shared/api.js';
import { jobId, policyOf, retryOptions, type CopyTarget, type JobData } from '../shared/jobs.js';
import type { NodeRow } from './db/nodes.js';
import type { NodeQueues } from './queues.js';

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
  return { ...retryOptions(policy), removeOnComplete: true, removeOnFail: { age: 7 * DAY_S }, jobId: jobId(data), priority: policy.priority };
}

export function nodeJobs(opts: { queues: NodeQueues; timeoutMs?: number; onError?: (err: Error, nodeId: string) => void }): NodeJobs {
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
        await within(q.add(data.kind, data, jobOptions));
        return outcome;
      } catch (err) {
        opts.onError?.(err as Error, nodeId);
        return 'error';
      }
    },
  };
}

/**
 * A node's base URL for peer PUTs (`http://host:port`): its upload URL without the upload route
 * (the public one, or the old one nodes registered before it keep), else its public URL.
 */
export function nodeBaseUrl(node: Pick<NodeRow, 'upload_api_url' | 'public_url'>): string {
  const upload = node.upload_api_url.replace(/\/+$/, '');
  const suffix = [UPLOAD_PATH, LEGACY_UPLOAD_PATH].find((p) => upload.endsWith(p));
  if (suffix) return upload.slice(0, -suffix.length);
  return (node.public_url ?? new URL(upload).origin).replace(/\/+$/, '');
}

export function copyTarget(node: Pick<NodeRow, 'node_id' | 'upload_api_url' | 'public_url'>, poolId: string): CopyTarget {
  return { node_id: node.node_id, pool_id: poolId, url: nodeBaseUrl(node) };
}
