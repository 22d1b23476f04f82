import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');

/**
 * Keeps the benchmark harness from rotting: a quick run must produce every figure. No timing is
 * asserted. It runs the built script directly rather than `npm run bench`, whose setup step would
 * rebuild dist/ underneath the other test files' running binaries.
 */
describe('npm run bench -- --quick', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fennec-bench-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('measures every figure beside its baseline and writes JSON with the machine facts', async () => {
    const out = path.join(dir, 'results.json');
    const child = spawn(process.execPath, [path.join(root, 'dist/scripts/bench.js'), '--quick', '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code, output).toBe(0);
    const result = JSON.parse(readFileSync(out, 'utf8'));
    expect(result.failures).toEqual([]);
    expect(result.machine).toMatchObject({ cores: expect.any(Number), node: process.version });
    const figures = new Set(result.rows.map((r: { figure: string }) => r.figure.split(' ')[0]));
    for (const name of ['ingest-large', 'ingest-small', 'sessions', 'sessions-500-nodes', 'memory', 'worker-rss', 'replication', 'backup'])
      expect(figures).toContain(name);
    for (const r of result.rows) expect(Number.isFinite(r.fennec.median), r.figure).toBe(true);
    expect(output).toContain('| figure');
  }, 240_000);
});
