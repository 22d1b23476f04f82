import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect } from 'vitest';
import { type ComposedCoordinator, composeCoordinator } from '../../coordinator/compose.js';
import { coordinatorEnvSchema } from '../../coordinator/config.js';
import { COORDINATOR_AUDIENCE } from '../../shared/api.js';
import { parseConfig } from '../../shared/config.js';
import { type Ed25519Key, ed25519FromPrivate } from '../../shared/keys.js';
import { createLogger } from '../../shared/logger.js';
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
 * A coordinator built the way main.ts builds it (composeCoordinator over a parsed config), on its
 * own data dir and Redis key prefix, with nothing started: tests call its app (no sockets) and
 * start what they need. `env` overrides the test defaults by variable name.
 */
export function testCoordinator(opts: {
  redis: Redis;
  tmp: string;
  env?: Record<string, string>;
}): ComposedCoordinator & { prefix: string } {
  const prefix = `t${randomUUID().slice(0, 8)}:`;
  const config = parseConfig(coordinatorEnvSchema, {
    FENNEC_DATA_DIR: mkdtempSync(path.join(opts.tmp, 'h-')),
    FENNEC_ADMIN_KEY: ADMIN_KEY,
    FENNEC_REDIS_PREFIX: prefix,
    FENNEC_MAX_FILE_BYTES: '1000000',
    FENNEC_DEFAULT_QUOTA_BYTES: '100000000',
    FENNEC_RATE_USER_PER_MIN: '10000',
    FENNEC_RATE_IP_PER_MIN: '10000',
    ...opts.env,
  });
  const logger = createLogger({ name: 'test', level: 'silent' });
  return { ...composeCoordinator(config, { logger, redis: opts.redis, heartbeatRefreshMs: 0 }), prefix };
}

/**
 * A coordinator app (no sockets: app.request) on its own SQLite and Redis key prefix, with nodes
 * `n1…` registered (pool `pN` each, their Ed25519 keys kept for signing) and one app.
 */
export async function coordinatorHarness(opts: { redis: Redis; tmp: string; nodes: string[] }) {
  const { deps, app } = testCoordinator(opts);
  const { db, repos } = deps;
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
    const token = await signNodeRequest(
      { nodeId: signer, audience: COORDINATOR_AUDIENCE, purpose, sha256: sha256Hex(raw) },
      keyOf(signer).privateKey,
    );
    return app.request(route, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: raw,
    });
  };
  return { deps, app, db, repos, req, keyOf, signed, appRow, close: () => db.close() };
}
