#!/usr/bin/env node
/**
 * `npm run bench -- [--only a,b] [--quick] [--runs N] [--out FILE] [--data DIR] [--keep]`:
 * starts its own local cluster, measures every hot path beside a baseline measured in the same
 * run, prints one table and writes the results with the machine facts as JSON.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_COORDINATOR_ENV, BENCH_NODE_ENV } from './bench/bench-cluster.js';
import type { BenchContext, Figure, FigureRow } from './bench/figure.js';
import { backup } from './bench/figures/backup.js';
import { ingestLarge } from './bench/figures/ingest-large.js';
import { ingestSmall } from './bench/figures/ingest-small.js';
import { memory } from './bench/figures/memory.js';
import { replication } from './bench/figures/replication.js';
import { sessions, sessionsManyNodes } from './bench/figures/sessions.js';
import { tusLarge } from './bench/figures/tus.js';
import { variants } from './bench/figures/variants.js';
import { workerRss } from './bench/figures/worker-rss.js';
import { machineFacts } from './bench/machine.js';
import { findNginx, startNginxBaseline } from './bench/nginx-baseline.js';
import { renderTable } from './bench/report.js';
import { Cluster } from './cluster/launcher.js';
import { ManagedProcess } from './cluster/managed-process.js';
import { freePort, waitForPort } from './cluster/ports.js';

/**
 * In run order: the 500-node figure compares against `sessions` from the same run; `replication`
 * starts its own two-node cluster per run; `backup` its own one-node cluster and s3rver.
 */
const FIGURES: Figure[] = [
  ingestLarge,
  tusLarge,
  ingestSmall,
  sessions,
  sessionsManyNodes,
  memory,
  variants,
  workerRss,
  replication,
  backup,
];

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    out: { type: 'string' },
    data: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});

const quick = values.quick ?? false;
const runs = Number(values.runs ?? (quick ? 1 : 3));
const only = values.only?.split(',').map((s) => s.trim());
const unknown = only?.filter((n) => !FIGURES.some((f) => f.name === n)) ?? [];
if (unknown.length) {
  console.error(`unknown figure(s): ${unknown.join(', ')}; known: ${FIGURES.map((f) => f.name).join(', ')}`);
  process.exit(2);
}
const selected = FIGURES.filter((f) => !only || only.includes(f.name));
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const workDir = values.data ? path.resolve(values.data) : mkdtempSync(path.join(os.tmpdir(), 'fennec-bench-'));
mkdirSync(workDir, { recursive: true });
const log = (line: string) => console.log(line);

const cluster = await Cluster.start({
  dataDir: path.join(workDir, 'cluster'),
  nodes: 1,
  coordinatorEnv: BENCH_COORDINATOR_ENV,
  nodeEnv: BENCH_NODE_ENV,
  log: (l) => log(`started ${l}`),
});

const barePort = await freePort();
const bare = new ManagedProcess({
  name: 'bare-node',
  command: process.execPath,
  args: [path.join(root, 'dist/scripts/bench/baseline-server.js'), String(barePort), path.join(workDir, 'bare')],
  logFile: path.join(workDir, 'bare.log'),
});
bare.start();
await waitForPort(barePort);

const nginxBin = findNginx();
const nginx = nginxBin ? await startNginxBaseline(nginxBin, workDir, await freePort()) : undefined;
if (!nginx) log('nginx is not installed: the nginx baseline is skipped (apt-get install nginx to include it)');

const ctx: BenchContext = { cluster, workDir, quick, runs, bareNodeUrl: `http://127.0.0.1:${barePort}`, nginxUrl: nginx?.url, log };
const rows: FigureRow[] = [];
const failures: { figure: string; error: string }[] = [];
try {
  for (const figure of selected) {
    log(`${figure.name}…`);
    try {
      rows.push(...(await figure.run(ctx)));
    } catch (err) {
      failures.push({ figure: figure.name, error: (err as Error).message });
      log(`  ${figure.name} failed: ${(err as Error).message}`);
    }
  }
} finally {
  await nginx?.stop();
  await bare.stop();
  await cluster.stop();
}

const table = renderTable(rows);
console.log(`\n${table}\n`);
const result = { date: new Date().toISOString(), quick, runs, machine: await machineFacts(workDir), rows, failures };
const out = path.resolve(values.out ?? path.join(root, '.bench', 'results.json'));
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`results: ${out}`);
if (!values.keep && !values.data) rmSync(workDir, { recursive: true, force: true });
process.exit(failures.length ? 1 : 0);
