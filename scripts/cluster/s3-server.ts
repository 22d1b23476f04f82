import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { freePort, waitForPort } from './ports.js';

/** What s3rver reported creating: one line per PutObject / CompleteMultipartUpload / copy. */
export interface S3CreatedEvent {
  event: string;
  key: string;
  size: number;
  /** When the server reported it (epoch ms). */
  at: number;
}

export interface TestS3 {
  url: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** PID of the running server, undefined while stopped. */
  readonly pid: number | undefined;
  /** Every object creation since the first start (kept across restarts). */
  created(): S3CreatedEvent[];
  /** Stops the server process (its data stays); `start()` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it for good and removes its directory. */
  close(): Promise<void>;
}

/** The repository root (where node_modules/s3rver resolves), from dist/scripts/cluster/ or scripts/cluster/ alike. */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

/**
 * s3rver (a devDependency) on loopback for the tests and the benchmark's `backup` figure.
 *
 * s3rver runs in its own `node` process (started and stopped by PID), so a test can take S3
 * away and bring it back. Every `event` it emits is appended to events.jsonl in its directory.
 */
const RUNNER = `
import { appendFileSync } from 'node:fs';
import S3rver from 's3rver';
const [port, dir, bucket] = process.argv.slice(1);
const server = new S3rver({ port: Number(port), address: '127.0.0.1', directory: dir + '/data', silent: true,
  configureBuckets: [{ name: bucket, configs: [] }] });
server.on('event', (e) => {
  for (const r of e.Records ?? [])
    appendFileSync(dir + '/events.jsonl', JSON.stringify({ event: r.eventName, key: decodeURIComponent(r.s3.object.key), size: r.s3.object.size, at: Date.now() }) + '\\n');
});
await server.run();
process.on('SIGTERM', () => server.close().finally(() => process.exit(0)));
`;

export async function startS3Server(bucket = 'fennec-backup'): Promise<TestS3> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fennec-s3-'));
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  const port = await freePort();
  let proc: ChildProcess | undefined;

  const start = async () => {
    proc = spawn(process.execPath, ['--input-type=module', '-e', RUNNER, String(port), dir, bucket], {
      // `-e` resolves `s3rver` from the working directory: the repository's, wherever we run from.
      cwd: repoRoot(),
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await waitForPort(port);
  };
  const stop = async () => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.pid === undefined) return;
    const exited = new Promise((r) => p.once('exit', r));
    process.kill(p.pid, 'SIGTERM');
    await exited;
  };
  await start();
  return {
    url: `http://127.0.0.1:${port}`,
    bucket,
    // s3rver's fixed credentials; it checks every request's signature against them.
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    get pid() {
      return proc?.pid;
    },
    created() {
      const file = path.join(dir, 'events.jsonl');
      if (!existsSync(file)) return [];
      return readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as S3CreatedEvent);
    },
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A client for the server: path-style, its credentials; `extra` adds or overrides settings. */
export function s3ClientFor(s3: Pick<TestS3, 'url' | 'accessKeyId' | 'secretAccessKey'>, extra: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: s3.url,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    ...extra,
  });
}

/** The node environment entries that give every pool the server's credentials. */
export function s3CredentialsEnv(s3: Pick<TestS3, 'accessKeyId' | 'secretAccessKey'>): Record<string, string> {
  return { FENNEC_S3_ACCESS_KEY_ID: s3.accessKeyId, FENNEC_S3_SECRET_ACCESS_KEY: s3.secretAccessKey };
}

/** A pool's `backup` entry for FENNEC_POOLS, pointing at the server's bucket under `prefix`. */
export function backupTargetFor(s3: Pick<TestS3, 'url' | 'bucket'>, prefix: string, extra: Record<string, unknown> = {}) {
  return { endpoint: s3.url, bucket: s3.bucket, prefix, force_path_style: true, delay_seconds: 0, ...extra };
}
