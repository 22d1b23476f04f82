import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

/** The coordinator's Prometheus metrics, on their own Registry (tests build many apps). */
export function coordinatorMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    sessions: new Counter({
      name: 'fennec_sessions_total',
      help: 'Upload session requests by outcome (created, duplicate, or the error code)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    completions: new Counter({
      name: 'fennec_upload_completions_total',
      help: 'Node upload-complete callbacks by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    expiredSessions: new Counter({
      name: 'fennec_sessions_expired_total',
      help: 'Open sessions released by the expiry sweeper',
      registers: [registry],
    }),
    heartbeatRefreshFailures: new Counter({
      name: 'fennec_heartbeat_refresh_failures_total',
      help: 'Failed reads of the node heartbeats from Redis',
      registers: [registry],
    }),
  };
}
export type CoordinatorMetrics = ReturnType<typeof coordinatorMetrics>;
