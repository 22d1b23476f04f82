import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COORDINATOR_AUDIENCE } from '../shared/api.js';
import { NODE_QUERIES, NODE_REPORTS } from '../shared/reports.js';
import { restoreListPath } from '../shared/restore.js';
import { sha256Hex, signNodeRequest } from '../shared/tokens.js';
import { ADMIN_KEY, coordinatorHarness, useRedisAndTmp } from '../test/support/coordinator-harness.js';

const env = useRedisAndTmp('node-reports');
let h: Awaited<ReturnType<typeof coordinatorHarness>>;
beforeAll(async () => {
  h = await coordinatorHarness({ redis: env.redis(), tmp: env.tmp(), nodes: ['n1', 'n2'] });
});
afterAll(() => h?.close());

const errorOf = async (res: Response) => ({ status: res.status, error: ((await res.json()) as { error: string }).error });

describe('node reports, mounted from the table', () => {
  it('mounts every report at its path: no token is a 401, a token for another purpose is a 401', async () => {
    for (const [kind, spec] of Object.entries(NODE_REPORTS)) {
      const res = await h.app.request(spec.path, { method: 'POST', body: '{}' });
      expect({ kind, ...(await errorOf(res)) }).toEqual({ kind, status: 401, error: 'missing_token' });
      const other = await h.signed('n1', spec.path, kind === 'copy.stored' ? 'copy.deleted' : 'copy.stored', { node_id: 'n1' });
      expect({ kind, ...(await errorOf(other)) }).toEqual({ kind, status: 401, error: 'invalid_token' });
    }
    const get = await h.app.request(NODE_QUERIES['restore.list'].path.replace(':pool_id', 'p1'));
    expect(await errorOf(get)).toEqual({ status: 401, error: 'missing_token' });
    expect(restoreListPath('p1')).toBe('/api/internal/pools/p1/restore-list');
  });

  it('parses with the kind schema (400) and holds the signer to its own node_id (403) before the handler runs', async () => {
    for (const [kind, spec] of Object.entries(NODE_REPORTS)) {
      expect({ kind, ...(await errorOf(await h.signed('n1', spec.path, spec.purpose, { node_id: 'n1' }))) }).toEqual({
        kind,
        status: 400,
        error: 'invalid_body',
      });
    }
    const copy = { image_uuid: '00000000-0000-4000-8000-000000000001', node_id: 'n2', pool_id: 'p2', at: new Date().toISOString() };
    expect(await errorOf(await h.signed('n1', NODE_REPORTS['copy.deleted'].path, 'copy.deleted', copy))).toEqual({
      status: 403,
      error: 'node_mismatch',
    });
    const ready = {
      event: 'image.failed',
      image_uuid: copy.image_uuid,
      node_id: 'n1',
      pool_id: 'p1',
      width: null,
      height: null,
      format: null,
      variants: [],
      reason: 'x',
      at: copy.at,
    };
    expect(await errorOf(await h.signed('n1', NODE_REPORTS['image.ready'].path, 'image.ready', ready))).toEqual({
      status: 400,
      error: 'invalid_body',
    });
  });
});

/** A chunked body (no Content-Length) made as it is read, counting what the server pulled. */
function endlessBody(total: number, chunk = 64 * 1024) {
  const counter = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (counter.pulled >= total) return controller.close();
      counter.pulled += chunk;
      controller.enqueue(new Uint8Array(chunk).fill(0x7b));
    },
  });
  return { stream, counter };
}
const MiB = 1024 * 1024;

describe('bodies are read only after auth, and only up to the limit', () => {
  const post = (path: string, token: string, body: ReadableStream<Uint8Array>) =>
    h.app.request(path, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit);

  it('a 64 MiB chunked report with a junk token is a 401 without the body being read', async () => {
    const { stream, counter } = endlessBody(64 * MiB);
    const rss = process.memoryUsage().rss;
    const res = await post(NODE_REPORTS['copy.stored'].path, 'junk.junk.junk', stream);
    expect(await errorOf(res)).toEqual({ status: 401, error: 'invalid_token' });
    expect(counter.pulled).toBeLessThanOrEqual(256 * 1024);
    expect(process.memoryUsage().rss - rss).toBeLessThan(16 * MiB);
  });

  it('a signed report past 64 KiB without a Content-Length is a 413 once the limit is crossed', async () => {
    const token = await signNodeRequest(
      { nodeId: 'n1', audience: COORDINATOR_AUDIENCE, purpose: 'copy.stored', sha256: sha256Hex('{}') },
      h.keyOf('n1').privateKey,
    );
    const { stream, counter } = endlessBody(8 * MiB);
    const res = await post(NODE_REPORTS['copy.stored'].path, token, stream);
    expect(await errorOf(res)).toEqual({ status: 413, error: 'too_large' });
    expect(res.headers.get('connection')).toBe('close');
    expect(counter.pulled).toBeLessThanOrEqual(64 * 1024 + 3 * 64 * 1024);
  });

  it('an admin or app JSON body is counted the same way: 413 past its limit, no key no read', async () => {
    const big = endlessBody(8 * MiB);
    expect(await errorOf(await post('/api/v1/admin/apps', ADMIN_KEY, big.stream))).toEqual({ status: 413, error: 'too_large' });
    expect(big.counter.pulled).toBeLessThanOrEqual(512 * 1024);
    const unread = endlessBody(8 * MiB);
    expect(await errorOf(await post('/api/v1/upload/sessions', 'not-a-key', unread.stream))).toEqual({
      status: 401,
      error: 'invalid_api_key',
    });
    expect(unread.counter.pulled).toBeLessThanOrEqual(128 * 1024);
  });

  it('over a socket: a 64 MiB chunked junk-token report gets its 401 without the server holding the body', async () => {
    const server = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((r) => (server.listening ? r() : server.once('listening', () => r())));
    const { port } = server.address() as AddressInfo;
    const chunk = Buffer.alloc(MiB, 0x7b);
    const rss = process.memoryUsage().rss;
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request({
          port,
          host: '127.0.0.1',
          method: 'POST',
          path: NODE_REPORTS['copy.stored'].path,
          headers: { authorization: 'Bearer junk.junk.junk', 'transfer-encoding': 'chunked' },
        });
        let answered = false;
        req.on('response', (res) => {
          answered = true;
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', (err) => (answered ? undefined : reject(err)));
        void (async () => {
          for (let sent = 0; sent < 64 && !answered && !req.destroyed; sent++)
            if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
          if (!req.destroyed) req.end();
        })();
      });
      expect(status).toBe(401);
      expect(process.memoryUsage().rss - rss).toBeLessThan(16 * MiB);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('over a socket: a signed report within the limit is read and answered', async () => {
    const server = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((r) => (server.listening ? r() : server.once('listening', () => r())));
    const { port } = server.address() as AddressInfo;
    try {
      const raw = JSON.stringify({
        image_uuid: '00000000-0000-4000-8000-000000000009',
        node_id: 'n1',
        pool_id: 'p1',
        at: new Date().toISOString(),
      });
      const token = await signNodeRequest(
        { nodeId: 'n1', audience: COORDINATOR_AUDIENCE, purpose: 'copy.deleted', sha256: sha256Hex(raw) },
        h.keyOf('n1').privateKey,
      );
      const res = await fetch(`http://127.0.0.1:${port}${NODE_REPORTS['copy.deleted'].path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: raw,
      });
      expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: { ok: true, removed: false } });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
