import type { JobKind } from './kinds.js';

/**
 * What the job worker process tells the node's main process over IPC: the outbox has new rows
 * (the main process delivers them), and figures for the main process's /metrics, which is the
 * only one Prometheus scrapes.
 */
export type WorkerMessage =
  | { t: 'outbox' }
  | { t: 'finished'; kind: JobKind; outcome: 'completed' | 'retried' | 'failed' }
  | { t: 'processed'; outcome: string }
  | { t: 'encoded'; variant: string; seconds: number }
  | { t: 'phase'; phase: string; seconds: number };
