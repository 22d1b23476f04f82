import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Hono } from 'hono';
import { createLocalJWKSet, exportJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorHandler } from '../../shared/http.js';
import { createLogger } from '../../shared/logger.js';
import { signUrl } from '../../shared/signed-url.js';
import { PoolSet, preparePool } from '../pools.js';
import { SIGNED_URL_CHECK_PATH, staticRoutes } from './static.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signing = { key: privateKey, kid: 'k1' };
const FILE = 'http://cdn.test/n1/uploads/private/original/2024/01/02/a.jpg';
let root: string;
let app: Hono;

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'static-private-'));
  const p1 = { id: 'p1', tier: 'hot' as const, path: path.join(root, 'p1'), public_base_url: 'http://cdn.test/n1', max_bytes: null };
  preparePool(p1);
  mkdirSync(path.join(p1.path, 'private/original/2024/01/02'), { recursive: true });
  writeFileSync(path.join(p1.path, 'private/original/2024/01/02/a.jpg'), 'private bytes');
  const getKey = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'EdDSA' }] });
  app = new Hono();
  app.onError(errorHandler(createLogger({ name: 't', level: 'silent' })));
  app.route('/', staticRoutes({ pools: new PoolSet([p1]), getKey }));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('private files at the node', () => {
  it('serves a signed URL until it expires, cached privately for the time left', async () => {
    const r = await app.request(signUrl(FILE, signing, { ttlSeconds: 600 }));
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('private bytes');
    const maxAge = Number(/^private, max-age=(\d+)$/.exec(r.headers.get('cache-control') ?? '')?.[1]);
    expect(maxAge).toBeGreaterThan(590);
    expect(maxAge).toBeLessThanOrEqual(600);
    expect((await app.request(signUrl(FILE, signing, { ttlSeconds: -1 }))).status).toBe(403);
  });

  it('refuses unsigned and tampered URLs; the public path of a private file does not exist', async () => {
    expect((await app.request(FILE)).status).toBe(403);
    const url = new URL(signUrl(FILE, signing, { ttlSeconds: 600 }));
    url.searchParams.set('exp', String(Number(url.searchParams.get('exp')) - 1));
    expect((await app.request(url.toString())).status).toBe(403);
    expect((await app.request(FILE.replace('/uploads/private/', '/uploads/'))).status).toBe(404);
  });

  it('answers nginx auth_request: 204 for a valid signature, 403 otherwise', async () => {
    const url = new URL(signUrl(FILE, signing, { ttlSeconds: 600 }));
    const check = (p: string, args: string) =>
      app.request(`http://node.test${SIGNED_URL_CHECK_PATH}`, { headers: { 'x-fennec-path': p, 'x-fennec-args': args } });
    expect((await check(url.pathname, url.search.slice(1))).status).toBe(204);
    expect((await check(url.pathname.replace('a.jpg', 'b.jpg'), url.search.slice(1))).status).toBe(403);
    expect((await check(url.pathname, '')).status).toBe(403);
    expect((await check('/n1/uploads/original/2024/01/02/a.jpg', url.search.slice(1))).status).toBe(403);
  });
});
