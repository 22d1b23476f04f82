import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { UPLOAD_PATH } from '../../shared/api.js';
import { ManagedProcess } from './managed-process.js';
import { allocatePorts, waitForPort } from './ports.js';

const execFileAsync = promisify(execFile);

/**
 * V8 flags the storage node runs with (systemd units use the same). A small young generation
 * makes V8 collect the per-chunk garbage of an upload stream early instead of letting ~60 MB of
 * spent socket buffers pile up before the next collection: measured, the node's peak RSS during
 * a 512 MiB upload fell from 159 MB to 126 MB, and uploads are I/O-bound, so the extra
 * scavenges cost nothing visible.
 */
export const NODE_V8_FLAGS = ['--max-semi-space-size=1'];

/** The repository root, from dist/scripts/cluster/ or scripts/cluster/ alike. */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

export interface ClusterOptions {
  /** Everything lives under here: Redis, coordinator DB and keys, node pools, logs, cluster.json. */
  dataDir: string;
  nodes: number;
  /** Coordinator on BASE, Redis on BASE+1, node i on BASE+1+i. Omitted: free ports the OS picks. */
  basePort?: number;
  /** Extra environment for the coordinator (tests shorten timers with it). */
  coordinatorEnv?: Record<string, string>;
  /** Extra environment for every node, or per node index (0-based). */
  nodeEnv?: Record<string, string> | ((index: number) => Record<string, string>);
  /** Caps each pool's reported capacity (tests of placement); unset = the disk's free space. */
  poolMaxBytes?: number;
  /**
   * Extra fields merged into node i's pool entry in FENNEC_POOLS (0-based), e.g. a `backup`
   * target; FENNEC_POOLS is built here, so a nodeEnv override cannot add them.
   */
  poolExtra?: (index: number) => Record<string, unknown>;
  /** Progress lines for a person watching; silent when omitted. */
  log?: (line: string) => void;
  /** Starts Redis with `requirepass` and gives every process a URL carrying it (tests of Redis AUTH). */
  redisPassword?: string;
}

export interface PoolInfo {
  pool_id: string;
  tier: string;
  base_path: string;
  public_base_url: string;
}

export interface NodeInfo {
  node_id: string;
  url: string;
  pools: PoolInfo[];
}

/** The shape of `cluster.json`. */
export interface ClusterInfo {
  coordinator_url: string;
  redis_url: string;
  app_key: string;
  admin_key: string;
  nodes: NodeInfo[];
}

interface Secrets {
  admin_key: string;
  app_key?: string;
}

/**
 * A local Fennec cluster on loopback: one Redis, one coordinator, N storage nodes with one hot
 * pool each, as real processes. `npm start`, the tests and the benchmarks all use this.
 */
export class Cluster {
  readonly redis: ManagedProcess;
  readonly coordinator: ManagedProcess;
  readonly nodes: ManagedProcess[] = [];
  readonly info: ClusterInfo;
  private readonly root = repoRoot();
  private readonly dataDir: string;

  private constructor(
    private readonly opts: ClusterOptions,
    ports: number[],
    secrets: Secrets,
  ) {
    this.dataDir = path.resolve(opts.dataDir);
    const [coordPort, redisPort, ...nodePorts] = ports as [number, number, ...number[]];
    const coordinatorUrl = `http://127.0.0.1:${coordPort}`;
    const auth = opts.redisPassword ? `:${encodeURIComponent(opts.redisPassword)}@` : '';
    const redisUrl = `redis://${auth}127.0.0.1:${redisPort}`;
    const logs = path.join(this.dataDir, 'logs');
    const redisDir = path.join(this.dataDir, 'redis');
    mkdirSync(redisDir, { recursive: true });

    // Append-only persistence: a restarted dev cluster keeps its counters (and, later, queues).
    this.redis = new ManagedProcess({
      name: 'redis',
      command: 'redis-server',
      args: [
        '--port',
        String(redisPort),
        '--bind',
        '127.0.0.1',
        '--dir',
        redisDir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--protected-mode',
        'yes',
        '--daemonize',
        'no',
        ...(opts.redisPassword ? ['--requirepass', opts.redisPassword] : []),
      ],
      logFile: path.join(logs, 'redis.log'),
    });
    this.coordinator = new ManagedProcess({
      name: 'coordinator',
      command: process.execPath,
      args: [path.join(this.root, 'dist/coordinator/main.js')],
      env: {
        FENNEC_LISTEN_HOST: '127.0.0.1',
        FENNEC_LISTEN_PORT: String(coordPort),
        FENNEC_PUBLIC_URL: coordinatorUrl,
        FENNEC_DATA_DIR: path.join(this.dataDir, 'coordinator'),
        FENNEC_REDIS_URL: redisUrl,
        FENNEC_ADMIN_KEY: secrets.admin_key,
        FENNEC_WEBHOOK_ALLOW_PRIVATE: '1', // the cluster's apps (demo, tests) listen on 127.0.0.1
        ...opts.coordinatorEnv,
      },
      logFile: path.join(logs, 'coordinator.log'),
    });

    const nodes: NodeInfo[] = [];
    for (let i = 0; i < opts.nodes; i++) {
      const nodeId = `s${String(i + 1).padStart(2, '0')}`;
      const url = `http://127.0.0.1:${nodePorts[i]}`;
      const nodeDir = path.join(this.dataDir, 'nodes', nodeId);
      const pool: PoolInfo = {
        pool_id: `${nodeId}-hot`,
        tier: 'hot',
        base_path: path.join(nodeDir, 'pools', 'hot'),
        public_base_url: url,
      };
      nodes.push({ node_id: nodeId, url, pools: [pool] });
      const extra = typeof opts.nodeEnv === 'function' ? opts.nodeEnv(i) : opts.nodeEnv;
      this.nodes.push(
        new ManagedProcess({
          name: nodeId,
          command: process.execPath,
          args: [...NODE_V8_FLAGS, path.join(this.root, 'dist/storage-node/main.js')],
          env: {
            FENNEC_NODE_ID: nodeId,
            FENNEC_LISTEN_HOST: '127.0.0.1',
            FENNEC_LISTEN_PORT: String(nodePorts[i]),
            FENNEC_PUBLIC_URL: url,
            FENNEC_POOLS: JSON.stringify([
              {
                id: pool.pool_id,
                tier: pool.tier,
                path: pool.base_path,
                public_base_url: pool.public_base_url,
                ...(opts.poolMaxBytes !== undefined ? { max_bytes: opts.poolMaxBytes } : {}),
                ...opts.poolExtra?.(i),
              },
            ]),
            FENNEC_STATE_DIR: path.join(nodeDir, 'state'),
            FENNEC_NODE_KEY_FILE: path.join(nodeDir, 'node.key'),
            FENNEC_COORDINATOR_URL: coordinatorUrl,
            FENNEC_REDIS_URL: redisUrl,
            ...extra,
          },
          logFile: path.join(logs, `${nodeId}.log`),
        }),
      );
    }
    this.info = {
      coordinator_url: coordinatorUrl,
      redis_url: redisUrl,
      admin_key: secrets.admin_key,
      app_key: secrets.app_key ?? '',
      nodes,
    };
  }

  static async start(opts: ClusterOptions): Promise<Cluster> {
    const dataDir = path.resolve(opts.dataDir);
    mkdirSync(dataDir, { recursive: true });
    const ports = await allocatePorts(opts.nodes + 2, opts.basePort);
    const cluster = new Cluster(opts, ports, loadSecrets(dataDir));
    try {
      await cluster.boot();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  private say(line: string): void {
    this.opts.log?.(line);
  }

  private async boot(): Promise<void> {
    await this.startRedis();
    await this.startCoordinator();
    for (let i = 0; i < this.nodes.length; i++) {
      await this.registerNode(i);
      await this.startNode(i);
    }
    await this.ensureAppKey();
    await this.waitForHeartbeats();
    writeFileSync(path.join(this.dataDir, 'cluster.json'), `${JSON.stringify(this.info, null, 2)}\n`, { mode: 0o600 });
  }

  async startRedis(): Promise<void> {
    this.redis.start();
    await waitForPort(Number(new URL(this.info.redis_url).port));
    this.say(`redis        ${this.info.redis_url.replace(/\/\/[^@/]*@/, '//***@')} (pid ${this.redis.pid})`);
  }

  async startCoordinator(): Promise<void> {
    this.coordinator.start();
    await waitReady(`${this.info.coordinator_url}/ready`, this.coordinator);
    this.say(`coordinator  ${this.info.coordinator_url} (pid ${this.coordinator.pid})`);
  }

  async startNode(i: number): Promise<void> {
    const proc = this.nodes[i]!;
    proc.start();
    await waitReady(`${this.info.nodes[i]!.url}/ready`, proc);
    this.say(`node ${proc.spec.name}     ${this.info.nodes[i]!.url} (pid ${proc.pid})`);
  }

  /** `fennec-node init` makes the key and pool marker; the admin API registers both. Idempotent. */
  private async registerNode(i: number): Promise<void> {
    const proc = this.nodes[i]!;
    const node = this.info.nodes[i]!;
    const { stdout } = await execFileAsync(process.execPath, [...proc.spec.args, 'init'], {
      env: { ...process.env, ...proc.spec.env, FENNEC_LOG_LEVEL: 'warn' },
    });
    const line = stdout
      .trim()
      .split('\n')
      .find((l) => l.includes('public_key'));
    if (!line) throw new Error(`fennec-node init printed no public key: ${stdout}`);
    const { public_key } = JSON.parse(line) as { public_key: unknown };
    await this.admin('POST', '/api/v1/admin/nodes', {
      node_id: node.node_id,
      public_key,
      upload_api_url: `${node.url}${UPLOAD_PATH}`,
      public_url: node.url,
      pools: node.pools.map((p) => ({ pool_id: p.pool_id, tier: p.tier, public_base_url: p.public_base_url })),
    });
  }

  private async ensureAppKey(): Promise<void> {
    if (this.info.app_key) {
      const probe = await fetch(`${this.info.coordinator_url}/api/v1/users/probe/usage`, {
        headers: { authorization: `Bearer ${this.info.app_key}` },
      });
      if (probe.status !== 401) return;
    }
    const res = (await this.admin('POST', '/api/v1/admin/apps', { name: 'local' })) as { api_key: string };
    this.info.app_key = res.api_key;
    saveSecrets(this.dataDir, { admin_key: this.info.admin_key, app_key: res.api_key });
  }

  /** Until the coordinator sees every running node's heartbeat, it would answer 503 no_capacity. */
  async waitForHeartbeats(timeoutMs = 20_000): Promise<void> {
    const want = this.info.nodes.filter((_, i) => this.nodes[i]!.running).map((n) => n.node_id);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { nodes } = (await this.admin('GET', '/api/v1/admin/nodes')) as {
        nodes: { node_id: string; heartbeat_age_ms: number | null }[];
      };
      const live = new Set(nodes.filter((n) => n.heartbeat_age_ms !== null).map((n) => n.node_id));
      if (want.every((id) => live.has(id))) return;
      if (Date.now() > deadline) throw new Error(`no heartbeat from ${want.filter((id) => !live.has(id)).join(', ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async admin(method: string, route: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${this.info.coordinator_url}${route}`, {
      method,
      headers: { authorization: `Bearer ${this.info.admin_key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${route} → ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  /** Stops nodes first (they finish in-flight uploads), then the coordinator, then Redis. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    await this.coordinator.stop();
    await this.redis.stop();
  }

  /** Every process this cluster started, for a caller that must report or watch them. */
  all(): ManagedProcess[] {
    return [this.redis, this.coordinator, ...this.nodes];
  }
}

function loadSecrets(dataDir: string): Secrets {
  const file = path.join(dataDir, 'secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Secrets;
  const secrets: Secrets = { admin_key: `fa_${randomBytes(24).toString('base64url')}` };
  saveSecrets(dataDir, secrets);
  return secrets;
}

function saveSecrets(dataDir: string, secrets: Secrets): void {
  writeFileSync(path.join(dataDir, 'secrets.json'), `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
}

async function waitReady(url: string, proc: ManagedProcess, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!proc.running) throw new Error(`${proc.spec.name} exited during start; see ${proc.spec.logFile}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms; see ${proc.spec.logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
