import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from '../../scripts/cluster/ports.js';

export interface TestRedis {
  port: number;
  url: string;
  stop(): Promise<void>;
}

/**
 * A real redis-server on a free loopback port with its own temp dir and no persistence,
 * returned only once it accepts connections (so clients never race its start-up).
 */
export async function startRedisServer(): Promise<TestRedis> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fennec-redis-'));
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: 'ignore',
  });
  await waitForPort(port);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
