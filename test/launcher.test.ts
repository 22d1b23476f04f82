import { execFileSync, spawn } from 'node:child_process';
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
      const ok = await Promise.all(
        [1, 2, 3].map(
          (d) =>
            new Promise<boolean>((res) => {
              const s = net
                .createServer()
                .once('error', () => res(false))
                .listen(candidate + d, '127.0.0.1', () => s.close(() => res(true)));
            }),
        ),
      );
      if (ok.every(Boolean)) base = candidate;
    }
    expect(base).toBeGreaterThan(0);

    // Its own process group, so Ctrl-C can be sent the way a terminal sends it: to every process in it.
    const child = spawn(
      process.execPath,
      [path.join(root, 'dist/scripts/cluster.js'), '--nodes', '2', '--data', dataDir, '--port', String(base)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      },
    );
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

      const childrenOf = (pid: number): number[] => {
        try {
          return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)])
            .toString()
            .trim()
            .split(/\s+/)
            .filter(Boolean)
            .map(Number);
        } catch {
          return []; // ps exits 1 when there is none
        }
      };
      const children = childrenOf(child.pid!);
      expect(children.length).toBe(4);
      // Each node's job worker is its child: it must not outlive Ctrl-C either (Redis goes at the same moment).
      const workers = children.flatMap(childrenOf);
      expect(workers.length).toBe(2);
      process.kill(-child.pid!, 'SIGINT');
      expect(await exited).toBe(0);
      for (const pid of children) expect(alive(pid)).toBe(false);
      await eventually(async () => workers.every((pid) => !alive(pid)), 10_000, 'the job workers gone');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group is gone
      }
    }
  });
});
