import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export interface NodeMetrics {
  registry: Registry;
  uploads: Counter<'status'>;
  uploadBytes: Counter;
  activeUploads: Gauge;
  outboxPending: Gauge;
  heartbeatFailures: Counter;
}

/** One registry per process (tests build several apps in one process). */
export function createMetrics(opts: { defaults?: boolean } = {}): NodeMetrics {
  const registry = new Registry();
  if (opts.defaults ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    uploads: new Counter({
      name: 'fennec_node_uploads_total',
      help: 'Uploads finished, by HTTP status',
      labelNames: ['status'],
      registers: [registry],
    }),
    uploadBytes: new Counter({
      name: 'fennec_node_upload_bytes_total',
      help: 'Bytes of uploads stored (201 only)',
      registers: [registry],
    }),
    activeUploads: new Gauge({
      name: 'fennec_node_active_uploads',
      help: 'Uploads currently streaming',
      registers: [registry],
    }),
    outboxPending: new Gauge({
      name: 'fennec_node_outbox_pending',
      help: 'Outbox rows not yet delivered to the coordinator (dead rows excluded)',
      registers: [registry],
    }),
    heartbeatFailures: new Counter({
      name: 'fennec_node_heartbeat_failures_total',
      help: 'Heartbeats that could not be written to Redis',
      registers: [registry],
    }),
  };
}
