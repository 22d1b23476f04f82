import type { FigureRow } from './figure.js';

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

/** The results table a person reads: figure, Fennec, baseline, ratio, goal, met. */
export function renderTable(rows: FigureRow[]): string {
  const header = ['figure', 'unit', 'fennec (min–max)', 'baseline', 'baseline value', 'ratio', 'goal', 'met', 'notes'];
  const lines = rows.map((r) => [
    r.figure,
    r.unit,
    `${fmt(r.fennec.median)} (${fmt(r.fennec.min)}–${fmt(r.fennec.max)})`,
    r.baselineName ?? '—',
    r.baseline ? `${fmt(r.baseline.median)} (${fmt(r.baseline.min)}–${fmt(r.baseline.max)})` : '—',
    r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`,
    r.goal,
    r.met === null ? '—' : r.met ? 'yes' : 'NO',
    // Nested detail (per-variant tables) is in the JSON; the table keeps to scalars.
    r.extra
      ? Object.entries(r.extra)
          .filter(([, v]) => typeof v !== 'object')
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')
      : '',
  ]);
  const all = [header, ...lines];
  const widths = header.map((_, i) => Math.max(...all.map((l) => l[i]!.length)));
  const render = (l: string[]) => `| ${l.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [render(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(render)].join('\n');
}
