import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect } from 'vitest';
import { buildApp } from '../../coordinator/app.js';
import { openDatabase } from '../../coordinator/db/open.js';
import type { CoordinatorDeps } from '../../coordinator/deps.js';
import { heartbeatSnapshot } from '../../coordinator/heartbeats.js';
import { coordinatorMetrics } from '../../coordinator/metrics.js';
import { sessionRateLimits } from '../../coordinator/rate-limit.js';
import { createRepos } from '../../coordinator/repos.js';
import { loadSigningKeys } from '../../coordinator/signing-keys.js';
import { COORDINATOR_AUDIENCE } from '../../shared/api.js';
import { ed25519FromPrivate, type Ed25519Key } from '../../shared/keys.js';
import { createLogger } from '../../shared/logger.js';
import { redisKeys } from '../../shared/redis-keys.js';
import { sha256Hex, signNodeRequest } from '../../shared/tokens.js';
import { startRedisServer, type TestRedis } from './redis-server.js';

export const ADMIN_KEY = 'test-admin-key-0123456789';

/** One real redis-server and a temp dir for a test file (started before, stopped after all its tests). */
export function useRedisAndTmp(name: string): { redis: () => Redis; tmp: () => string } {
  let testRedis: TestRedis;
  let redis: Redis;
  let tmp: string;
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), `fennec-${name}-`));
    testRedis = await startRedisServer();
    redis = new Redis(testRedis.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await testRedis?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });
  return { redis: () => redis, tmp: () => tmp };
}

/**
 * A coordinator app (no sockets: app.request) on its own SQLite and Redis key prefix, with nodes
 * `n1…` registered (pool `pN` each, their Ed25519 keys kept for signing) and one app.
 */
export async function coordinatorHarness(opts: { redis: Redis; tmp: string; nodes: string[] }) {
  const dir = mkdtempSync(path.join(opts.tmp, 'h-'));
  const db = openDatabase(path.join(dir, 'coordinator.db'));
  const keys = redisKeys(`t${randomUUID().slice(0, 8)}:`);
  const logger = createLogger({ name: 'test', level: 'silent' });
  const repos = createRepos(db);
  const redis = opts.redis;
  const deps: CoordinatorDeps = {
    settings: { adminKey: ADMIN_KEY, issuer: 'fennec-coordinator', tokenTtlSeconds: 900, maxFileBytes: 1e6, defaultQuotaBytes: 1e8, heartbeatMaxAgeMs: 15_000 },
    logger,
    db,
    redis,
    repos,
    heartbeats: heartbeatSnapshot({ redis, keys, logger, refreshMs: 0 }),
    rateLimits: sessionRateLimits({ redis, keys, userPerMinute: 10_000, ipPerMinute: 10_000 }),
    signingKeys: loadSigningKeys(path.join(dir, 'signing-keys')),
    metrics: coordinatorMetrics(),
  };
  const app = buildApp(deps);
  /** An admin-key request (JSON body when given). */
  const req = async (method: string, url: string, body?: unknown, auth = ADMIN_KEY) =>
    app.request(url, {
      method,
      headers: { authorization: `Bearer ${auth}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  const nodeKeys = new Map<string, Ed25519Key>();
  for (const id of opts.nodes) {
    const key = ed25519FromPrivate(generateKeyPairSync('ed25519').privateKey);
    nodeKeys.set(id, key);
    const res = await req('POST', '/api/v1/admin/nodes', {
      node_id: id,
      public_key: key.publicJwk,
      upload_api_url: `http://${id}.test/api/internal/upload`,
      pools: [{ pool_id: `p${id.slice(1)}`, tier: 'hot', public_base_url: `http://${id}.test` }],
    });
    expect(res.status).toBe(201);
  }
  const appRow = (await (await req('POST', '/api/v1/admin/apps', { name: 'gallery' })).json()) as { app_id: string; api_key: string };

  /** A node's key, or a fresh unregistered one for a node the coordinator does not know. */
  const keyOf = (nodeId: string) => nodeKeys.get(nodeId) ?? ed25519FromPrivate(generateKeyPairSync('ed25519').privateKey);
  /** A node-signed POST, as a node's outbox sends it (`signer` may differ from the body's node). */
  const signed = async (signer: string, route: string, purpose: string, body: unknown) => {
    const raw = JSON.stringify(body);
    const token = await signNodeRequest({ nodeId: signer, audience: COORDINATOR_AUDIENCE, purpose, sha256: sha256Hex(raw) }, keyOf(signer).privateKey);
    return app.request(route, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: raw });
  };
  return { deps, app, db, repos, req, keyOf, signed, appRow, close: () => db.close() };
}
