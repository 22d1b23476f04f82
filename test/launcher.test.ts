import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../scripts/cluster/ports.js';
import { eventually } from './support/test-cluster.js';

const root = path.resolve(import.meta.dirname, '..');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the local cluster launcher (npm start)', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fennec-launcher-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('starts N nodes from BASE upward, writes cluster.json, and Ctrl-C stops every process', async () => {
    // Four consecutive ports: look for a base whose whole range is free.
    let base = 0;
    for (let tries = 0; tries < 20 && !base; tries++) {
      const candidate = await freePort();
      if (candidate > 60000) continue;
      const ok = await Promise.all([1, 2, 3].map((d) => new Promise<boolean>((res) => {
        const s = net.createServer().once('error', () => res(false)).listen(candidate + d, '127.0.0.1', () => s.close(() => res(true)));
      })));
      if (ok.every(Boolean)) base = candidate;
    }
    expect(base).toBeGreaterThan(0);

    const child = spawn(process.execPath, [path.join(root, 'dist/scripts/cluster.js'), '--nodes', '2', '--data', dataDir, '--port', String(base)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await eventually(async () => out.includes('Press Ctrl-C'), 60_000, `the launcher to print its example (output so far: ${out})`);
      const info = JSON.parse(readFileSync(path.join(dataDir, 'cluster.json'), 'utf8'));
      expect(info.coordinator_url).toBe(`http://127.0.0.1:${base}`);
      expect(info.redis_url).toBe(`redis://127.0.0.1:${base + 1}`);
      expect(info.nodes.map((n: { url: string }) => n.url)).toEqual([`http://127.0.0.1:${base + 2}`, `http://127.0.0.1:${base + 3}`]);
      expect(info.app_key).toBeTruthy();
      expect(info.admin_key).toBeTruthy();
      expect(existsSync(path.join(info.nodes[0].pools[0].base_path, '.fennec-pool.json'))).toBe(true);
      expect(out).toContain('curl');

      const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(child.pid)]).toString().trim().split(/\s+/).map(Number);
      expect(children.length).toBe(4);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      for (const pid of children) expect(alive(pid)).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
