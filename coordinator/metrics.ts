import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { MOVE_ITEM_STATES } from './db/moves.js';
import { NODE_STATES } from './db/nodes.js';
import type { CoordinatorDeps, NodeQueueCounts } from './deps.js';
import type { HeartbeatSnapshot } from './heartbeats.js';
import { isLive } from './placement.js';

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
    webhookDeliveries: new Counter({
      name: 'fennec_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome: delivered, retried (will try again), dead (given up)',
      labelNames: ['outcome'] as const,
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

/** Reads a scrape-time figure, or gives up after `ms` so a slow Redis never stalls /metrics. */
function within<T>(ms: number, p: Promise<T>): Promise<T | undefined> {
  return Promise.race([p.catch(() => undefined), new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);
}

/**
 * Figures computed when Prometheus scrapes: heartbeat age and liveness per registered node (from
 * the same snapshot placement uses), each node's job queue by state, and pending webhooks.
 * Labels are node ids and fixed state names only, so cardinality stays at nodes × states.
 */
export function registerClusterGauges(
  metrics: CoordinatorMetrics,
  src: {
    nodeIds: () => string[];
    heartbeats: HeartbeatSnapshot;
    heartbeatMaxAgeMs: number;
    queues?: { counts: (nodeIds: string[]) => Promise<NodeQueueCounts[]> };
    webhooksPending?: () => number;
  },
): void {
  const registers = [metrics.registry];
  let live: Promise<void> | undefined;
  // One snapshot read serves both gauges (prom-client collects each on its own).
  const readHeartbeats = () => {
    live ??= (async () => {
      const snapshot = await within(1000, src.heartbeats.get());
      const now = Date.now();
      age.reset();
      up.reset();
      for (const node of src.nodeIds()) {
        const hb = snapshot?.get(node);
        if (hb) age.set({ node }, Math.max(0, (now - hb.ts) / 1000));
        up.set({ node }, isLive(hb, now, src.heartbeatMaxAgeMs) ? 1 : 0);
      }
    })().finally(() => {
      live = undefined;
    });
    return live;
  };
  const age = new Gauge({
    name: 'fennec_node_heartbeat_age_seconds',
    help: "Age of each registered node's last heartbeat (absent once the heartbeat key expired)",
    labelNames: ['node'] as const,
    registers,
    collect: readHeartbeats,
  });
  const up = new Gauge({
    name: 'fennec_node_heartbeat_up',
    help: '1 when the node has a heartbeat fresh enough for placement, else 0',
    labelNames: ['node'] as const,
    registers,
    collect: readHeartbeats,
  });

  if (src.queues) {
    const queues = src.queues;
    new Gauge({
      name: 'fennec_queue_jobs',
      help: "Jobs in each node's queue by state, read from Redis (absent while Redis is unreachable)",
      labelNames: ['node', 'state'] as const,
      registers,
      async collect() {
        const all = await within(1500, queues.counts(src.nodeIds()));
        this.reset();
        for (const q of all ?? []) for (const [state, n] of Object.entries(q.counts ?? {})) this.set({ node: q.node_id, state }, n);
      },
    });
  }
  if (src.webhooksPending) {
    const pending = src.webhooksPending;
    new Gauge({
      name: 'fennec_webhooks_pending',
      help: 'Webhooks queued and not yet delivered (dead ones excluded)',
      registers,
      collect() {
        try {
          this.set(pending());
        } catch {
          // SQLite closing: keep the last value
        }
      },
    });
  }
}

const COPY_STATES = ['pending', 'ok', 'corrupt', 'deleting'] as const;
const PROTECTION_COPIES = ['0', '1', '2', '3+'] as const;
const PROTECTION_S3 = ['yes', 'no', 'pending'] as const;

/**
 * The durability ledger at scrape time, from SQLite: copies by state, objects short of their
 * replication factor, corrupt copies nothing can repair, items of active moves by state, and
 * each node's lifecycle state (1 for its current state, 0 for the others), and objects by
 * protection (copies × S3). Labels are fixed
 * state names and node ids only.
 */
export function registerDurabilityGauges(
  metrics: CoordinatorMetrics,
  repos: Pick<CoordinatorDeps['repos'], 'copies' | 'moves' | 'nodes' | 'backups' | 'restorable'>,
): void {
  const registers = [metrics.registry];
  // SQLite may be closing during shutdown: a failed read keeps the last values.
  const safely = (f: () => void) => {
    try {
      f();
    } catch {
      // keep the last value
    }
  };
  new Gauge({
    name: 'fennec_copies',
    help: 'Copies of originals in the index by state',
    labelNames: ['state'] as const,
    registers,
    collect() {
      safely(() => {
        const byState = new Map(repos.copies.countByState().map((r) => [r.state, r.n]));
        for (const state of COPY_STATES) this.set({ state }, byState.get(state) ?? 0);
      });
    },
  });
  new Gauge({
    name: 'fennec_objects_under_replicated',
    help: 'Objects with fewer live copies (ok or pending on a node up or draining) than their pool replication factor',
    registers,
    collect() {
      safely(() => this.set(repos.copies.underReplicatedCount()));
    },
  });
  new Gauge({
    name: 'fennec_copies_unrepairable',
    help: 'Corrupt copies with no good copy on a node in service to repair them from',
    registers,
    collect() {
      safely(() => this.set(repos.copies.unrepairableCount()));
    },
  });
  new Gauge({
    name: 'fennec_objects_unrestorable',
    help: 'Objects only their S3 backup still has, whose bucket no pool on a node up has stored backups to (nothing can restore them)',
    registers,
    collect() {
      safely(() => this.set(repos.restorable.unrestorableCount()));
    },
  });
  new Gauge({
    name: 'fennec_move_items',
    help: 'Items of running and paused pool moves by state',
    labelNames: ['state'] as const,
    registers,
    collect() {
      safely(() => {
        const byState = new Map(repos.moves.activeItemCounts().map((r) => [r.state, r.n]));
        for (const state of MOVE_ITEM_STATES) this.set({ state }, byState.get(state) ?? 0);
      });
    },
  });
  new Gauge({
    name: 'fennec_objects_by_protection',
    help: 'Objects by good copies on nodes up or draining (0, 1, 2, 3+) and S3 backup (yes, no, pending = scheduled)',
    labelNames: ['copies', 's3'] as const,
    registers,
    collect() {
      safely(() => {
        const counts = new Map<string, number>();
        for (const k of repos.backups.protection(Date.now())) {
          const key = `${k.copies >= 3 ? '3+' : String(k.copies)}/${k.s3}`;
          counts.set(key, (counts.get(key) ?? 0) + k.objects);
        }
        for (const copies of PROTECTION_COPIES)
          for (const s3 of PROTECTION_S3) this.set({ copies, s3 }, counts.get(`${copies}/${s3}`) ?? 0);
      });
    },
  });
  new Gauge({
    name: 'fennec_node_state',
    help: "1 for each registered node's lifecycle state (up, down, lost, draining, retired), 0 for the others",
    labelNames: ['node', 'state'] as const,
    registers,
    collect() {
      safely(() => {
        this.reset();
        for (const n of repos.nodes.list())
          for (const state of NODE_STATES) this.set({ node: n.node_id, state }, n.state === state ? 1 : 0);
      });
    },
  });
}
