import path from 'node:path';
import type { JWTVerifyGetKey } from 'jose';
import { errors } from '../../shared/errors.js';
import { verifyJob } from '../../shared/job-signature.js';
import type { JobData } from '../../shared/jobs.js';
import type { Logger } from '../../shared/logger.js';
import type { NodeConfig } from '../config.js';
import { CoordinatorKeys, NodeKeys, staticKeySource } from '../jwks.js';

export interface JobAuthDeps {
  nodeId: string;
  /** The coordinator's signing keys, as upload tokens are checked against them. */
  getKey: JWTVerifyGetKey;
  tokenIssuer: string;
  clockSkewSeconds: number;
  /** Whether a node id is registered (the coordinator's published node keys). */
  isRegisteredNode: (nodeId: string) => Promise<boolean>;
}

/**
 * The worker's check of a coordinator-added job: signed by the coordinator for this node under
 * this job id, and a copy goes only to a node the coordinator publishes a key for. The URL the
 * node PUTs to is the one inside the signed payload (the coordinator takes it from the node's
 * registered row), never a field written beside it.
 */
export function jobVerifier(deps: JobAuthDeps): (raw: unknown, jobId: string | undefined) => Promise<unknown> {
  return async (raw, jobId) => {
    const job = (await verifyJob(raw, {
      nodeId: deps.nodeId,
      jobId,
      getKey: deps.getKey,
      issuer: deps.tokenIssuer,
      clockToleranceSeconds: deps.clockSkewSeconds,
    })) as JobData;
    if ((job.kind === 'replicate' || job.kind === 'move') && job.target?.node_id !== deps.nodeId) {
      if (!(await deps.isRegisteredNode(job.target.node_id)))
        throw errors.unauthorized('unknown_node', `copy target ${job.target.node_id} is not a registered node`);
    }
    return job;
  };
}

/**
 * The worker process's own key caches (files apart from the main process's, so the two never
 * write one file at once): it checks jobs while the main process checks uploads.
 */
export function workerJobAuth(cfg: NodeConfig, logger: Logger): { verify: ReturnType<typeof jobVerifier>; stop: () => void } {
  const coordinatorKeys = cfg.jwksFile
    ? undefined
    : new CoordinatorKeys({
        url: cfg.jwksUrl,
        cacheFile: path.join(cfg.stateDir, 'worker-jwks-cache.json'),
        logger,
        allowInsecure: cfg.allowInsecureKeys,
      });
  const nodeKeys = new NodeKeys({
    url: cfg.nodeKeysUrl,
    cacheFile: path.join(cfg.stateDir, 'worker-node-keys-cache.json'),
    logger,
    allowInsecure: cfg.allowInsecureKeys,
  });
  coordinatorKeys?.start();
  nodeKeys.start();
  const verify = jobVerifier({
    nodeId: cfg.nodeId,
    getKey: cfg.jwksFile ? staticKeySource(cfg.jwksFile) : coordinatorKeys!.getKey,
    tokenIssuer: cfg.tokenIssuer,
    clockSkewSeconds: cfg.clockSkewSeconds,
    isRegisteredNode: async (nodeId) => (await nodeKeys.resolveNodeKey(nodeId)) !== undefined,
  });
  return {
    verify,
    stop: () => {
      coordinatorKeys?.stop();
      nodeKeys.stop();
    },
  };
}
