import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorHandler } from '../../shared/http.js';
import { createLogger } from '../../shared/logger.js';
import { PoolSet, preparePool } from '../pools.js';
import { staticRoutes } from './static.js';

let root: string;
let app: Hono;
const content = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 256));
const url = 'http://node.test/n1/uploads/original/2024/01/02/a.jpg';

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'static-'));
  const p1 = { id: 'p1', tier: 'hot' as const, path: path.join(root, 'p1'), public_base_url: 'http://cdn.test/n1/', max_bytes: null };
  preparePool(p1);
  mkdirSync(path.join(p1.path, 'original/2024/01/02'), { recursive: true });
  writeFileSync(path.join(p1.path, 'original/2024/01/02/a.jpg'), content);
  writeFileSync(path.join(p1.path, 'tmp/x.part'), 'secret');
  writeFileSync(path.join(root, 'outside.jpg'), 'outside');
  symlinkSync(path.join(root, 'outside.jpg'), path.join(p1.path, 'original/2024/01/02/link.jpg'));
  symlinkSync(path.join(p1.path, 'tmp'), path.join(p1.path, 'original/2024/01/tmplink'));
  app = new Hono();
  app.onError(errorHandler(createLogger({ name: 't', level: 'silent' })));
  app.route(
    '/',
    staticRoutes({
      pools: new PoolSet([p1]),
      getKey: async () => {
        throw new Error('no keys in this test');
      },
    }),
  );
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('static originals', () => {
  it('serves the whole file with immutable caching headers', async () => {
    const r = await app.request(url);
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).equals(content)).toBe(true);
    expect(r.headers.get('content-type')).toBe('image/jpeg');
    expect(r.headers.get('content-length')).toBe('1000');
    expect(r.headers.get('accept-ranges')).toBe('bytes');
    expect(r.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('etag')).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
  });

  it('answers a single range with 206, past the end with 416', async () => {
    const r = await app.request(url, { headers: { range: 'bytes=10-19' } });
    expect(r.status).toBe(206);
    expect(r.headers.get('content-range')).toBe('bytes 10-19/1000');
    expect(Buffer.from(await r.arrayBuffer()).equals(content.subarray(10, 20))).toBe(true);
    const suffix = await app.request(url, { headers: { range: 'bytes=-5' } });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(content.subarray(995))).toBe(true);
    const bad = await app.request(url, { headers: { range: 'bytes=5000-' } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe('bytes */1000');
  });

  it('answers 304 to a matching If-None-Match and ignores Range when If-Range does not match', async () => {
    const etag = (await app.request(url, { method: 'HEAD' })).headers.get('etag')!;
    expect((await app.request(url, { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await app.request(url, { headers: { range: 'bytes=0-1', 'if-range': '"other"' } })).status).toBe(200);
    expect((await app.request(url, { headers: { range: 'bytes=0-1', 'if-range': etag } })).status).toBe(206);
  });

  it('HEAD has headers and no body', async () => {
    const r = await app.request(url, { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-length')).toBe('1000');
    expect((await r.arrayBuffer()).byteLength).toBe(0);
  });

  it('never serves tmp/, the marker, symlinks or paths that leave the pool', async () => {
    for (const p of [
      '/n1/uploads/tmp/x.part',
      '/n1/uploads/.fennec-pool.json',
      '/n1/uploads/original/2024/01/02/link.jpg',
      '/n1/uploads/original/2024/01/tmplink/x.part',
      '/n1/uploads/original/../tmp/x.part',
      '/n1/uploads/original/%2e%2e/tmp/x.part',
      '/n1/uploads/original/2024/01/02/missing.jpg',
      '/n1/uploads/original/2024',
    ]) {
      const r = await app.request(`http://node.test${p}`);
      expect(r.status, p).toBe(404);
    }
  });
});
