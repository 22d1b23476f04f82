import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Cluster, type ClusterOptions } from '../cluster/launcher.js';

const unlimited = String(Number.MAX_SAFE_INTEGER);

/** The bench measures speed, not limits: rates and quotas out of the way. */
export const BENCH_COORDINATOR_ENV: Record<string, string> = {
  FENNEC_RATE_USER_PER_MIN: '100000000',
  FENNEC_RATE_IP_PER_MIN: '100000000',
  FENNEC_DEFAULT_QUOTA_BYTES: unlimited,
  FENNEC_MAX_FILE_BYTES: unlimited,
  FENNEC_LOG_LEVEL: 'warn',
};
export const BENCH_NODE_ENV: Record<string, string> = { FENNEC_UPLOAD_RATE_IP_PER_MIN: '100000000', FENNEC_LOG_LEVEL: 'warn' };

/**
 * A figure's own cluster, with the bench's env under the figure's. Started again once if it
 * fails: on a busy machine a port picked as free can be taken by another process before the
 * child binds it (the first attempt's logs are kept beside the data dir).
 */
export async function startFigureCluster(log: (line: string) => void, figure: string, opts: ClusterOptions): Promise<Cluster> {
  const full: ClusterOptions = {
    ...opts,
    coordinatorEnv: { ...BENCH_COORDINATOR_ENV, ...opts.coordinatorEnv },
    nodeEnv: { ...BENCH_NODE_ENV, ...opts.nodeEnv },
  };
  try {
    return await Cluster.start(full);
  } catch (err) {
    const logs = `${opts.dataDir}-failed-start-logs`;
    try {
      cpSync(path.join(opts.dataDir, 'logs'), logs, { recursive: true });
    } catch {
      // nothing started far enough to log
    }
    log(`  ${figure}: cluster start failed (${(err as Error).message}; logs in ${logs}); once more`);
    rmSync(opts.dataDir, { recursive: true, force: true });
    return Cluster.start(full);
  }
}
