import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster, type ClusterOptions } from '../../scripts/cluster/launcher.js';
import type { SessionResponse, UploadResponse } from '../../shared/api.js';
import { eventually } from './eventually.js';

/** Timings shortened so tests see heartbeats, expiry and retries within seconds. */
const FAST_NODE_ENV = {
  FENNEC_HEARTBEAT_INTERVAL_MS: '300',
  FENNEC_OUTBOX_MAX_BACKOFF_MS: '500',
  FENNEC_SHUTDOWN_GRACE_MS: '0',
  FENNEC_LOG_LEVEL: 'debug',
};
const FAST_COORDINATOR_ENV = {
  FENNEC_HEARTBEAT_MAX_AGE_MS: '3000',
  FENNEC_LOG_LEVEL: 'debug',
};

export interface TestCluster {
  cluster: Cluster;
  dataDir: string;
  /** `POST /api/v1/upload/sessions` with the app key; returns status and parsed body. */
  createSession(body: Record<string, unknown>, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  /** A session that must succeed. */
  session(userId: string, fileSize: number, extra?: Record<string, unknown>): Promise<SessionResponse>;
  /** `POST {upload_url}` with a raw body and the session's token. */
  uploadRaw(s: SessionResponse, data: Uint8Array, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  /** `POST {upload_url}` as multipart/form-data with field `file`. */
  uploadMultipart(
    s: SessionResponse,
    data: Uint8Array,
    filename?: string,
  ): Promise<{ status: number; body: UploadResponse & { error?: string } }>;
  /**
   * Session + raw upload of one file (a 503 no_capacity while a heartbeat lapses on a loaded
   * machine is retried); returns the 201 body.
   */
  store(userId: string, data: Uint8Array): Promise<UploadResponse>;
  /** App-key GET on the coordinator. */
  appGet(route: string): Promise<{ status: number; body: any }>;
  /** Every file under a pool subdirectory (`tmp`, `original`), relative to it; the node's own write probes excluded. */
  poolFiles(nodeIndex: number, sub: string): string[];
  stop(): Promise<void>;
}

export async function startTestCluster(
  opts: Partial<ClusterOptions> & { nodeEnv?: Record<string, string>; coordinatorEnv?: Record<string, string> } = {},
): Promise<TestCluster> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fennec-test-'));
  const cluster = await Cluster.start({
    nodes: 1,
    ...opts,
    dataDir,
    coordinatorEnv: { ...FAST_COORDINATOR_ENV, ...opts.coordinatorEnv },
    nodeEnv: { ...FAST_NODE_ENV, ...opts.nodeEnv },
  });
  const info = cluster.info;
  const appHeaders = { authorization: `Bearer ${info.app_key}`, 'content-type': 'application/json' };

  const createSession: TestCluster['createSession'] = async (body, headers = {}) => {
    const res = await fetch(`${info.coordinator_url}/api/v1/upload/sessions`, {
      method: 'POST',
      headers: { ...appHeaders, ...headers },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.json(), headers: res.headers };
  };

  return {
    cluster,
    dataDir,
    createSession,
    async session(userId, fileSize, extra = {}) {
      const res = await createSession({ user_id: userId, file_size: fileSize, ...extra });
      if (res.status !== 201) throw new Error(`session → ${res.status} ${JSON.stringify(res.body)}`);
      return res.body as SessionResponse;
    },
    async uploadRaw(s, data, headers = {}) {
      const res = await fetch(s.upload_url, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/octet-stream', ...headers },
        body: data,
      });
      return { status: res.status, body: await res.json().catch(() => undefined) };
    },
    async uploadMultipart(s, data, filename = 'photo.jpg') {
      const form = new FormData();
      form.append('file', new Blob([data]), filename);
      const res = await fetch(s.upload_url, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.token}` },
        body: form,
      });
      return { status: res.status, body: (await res.json()) as UploadResponse & { error?: string } };
    },
    async store(userId, data) {
      const s = await eventually(
        async () => {
          const res = await createSession({ user_id: userId, file_size: data.byteLength });
          if (res.status === 201) return res.body as SessionResponse;
          if (res.status !== 503) throw new Error(`session → ${res.status} ${JSON.stringify(res.body)}`);
          return undefined;
        },
        15_000,
        'an upload session',
      );
      const res = await fetch(s.upload_url, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/octet-stream' },
        body: data,
      });
      const body = (await res.json()) as UploadResponse;
      if (res.status !== 201) throw new Error(`upload → ${res.status} ${JSON.stringify(body)}`);
      return body;
    },
    async appGet(route) {
      const res = await fetch(`${info.coordinator_url}${route}`, { headers: appHeaders });
      return { status: res.status, body: await res.json().catch(() => undefined) };
    },
    poolFiles(nodeIndex, sub) {
      return listFiles(path.join(info.nodes[nodeIndex]!.pools[0]!.base_path, sub)).filter((f) => !/(^|\/)\.probe-/.test(f));
    },
    async stop() {
      await cluster.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function listFiles(dir: string, prefix = ''): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full, `${prefix}${name}/`) : [`${prefix}${name}`];
  });
}

/** Re-exported: the end-to-end tests import it from here with the cluster. */
export { eventually };
