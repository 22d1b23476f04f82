import type { JobKind } from './kinds.js';

/**
 * What the job worker process tells the node's main process over IPC: the outbox has new rows
 * (the main process delivers them), and figures for the main process's /metrics, which is the
 * only one Prometheus scrapes.
 */
export type WorkerMessage =
  | { t: 'outbox' }
  /** Rows were removed or moved between pools: the main process's used-bytes figures are stale. */
  | { t: 'objects-changed' }
  | { t: 'finished'; kind: JobKind; outcome: 'completed' | 'retried' | 'failed' }
  | { t: 'processed'; outcome: string }
  | { t: 'encoded'; variant: string; seconds: number }
  | { t: 'phase'; phase: string; seconds: number }
  /** One original re-read by scrub (storage-node/scrub/); `error`: unreadable, not judged. */
  | { t: 'scrubbed'; outcome: ScrubOutcome; bytes: number }
  /** A scrub pass that ran to its end (an aborted one sends nothing); `at` in epoch seconds. */
  | { t: 'scrub-pass'; seconds: number; at: number };

/** A bounded label set for fennec_node_scrub_objects_total. */
export type ScrubOutcome = 'ok' | 'missing' | 'mismatch' | 'error';
