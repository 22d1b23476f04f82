import type { Cluster } from '../cluster/launcher.js';
import type { Summary } from './stats.js';

/** What every figure gets: the running cluster, the baselines, and how hard to try. */
export interface BenchContext {
  cluster: Cluster;
  workDir: string;
  quick: boolean;
  runs: number;
  /** The bare Node server (baseline-server.ts), e.g. http://127.0.0.1:PORT */
  bareNodeUrl: string;
  /** nginx with the dav module, when installed: http://127.0.0.1:PORT/files */
  nginxUrl: string | undefined;
  log: (line: string) => void;
}

/** One line of the results table. */
export interface FigureRow {
  figure: string;
  unit: string;
  fennec: Summary;
  baselineName: string | null;
  baseline: Summary | null;
  /** fennec / baseline medians (or null without a baseline). */
  ratio: number | null;
  goal: string;
  met: boolean | null;
  /** Latency percentiles, bytes, notes: whatever explains the figure. */
  extra?: Record<string, unknown>;
}

export interface Figure {
  name: string;
  run(ctx: BenchContext): Promise<FigureRow[]>;
}

export function row(opts: Omit<FigureRow, 'ratio' | 'met'> & { minRatio?: number; check?: (r: FigureRow) => boolean }): FigureRow {
  const { minRatio, check, ...rest } = opts;
  const ratio = rest.baseline ? rest.fennec.median / rest.baseline.median : null;
  const base: FigureRow = { ...rest, ratio, met: null };
  if (check) base.met = check(base);
  else if (minRatio !== undefined && ratio !== null) base.met = ratio >= minRatio;
  return base;
}
