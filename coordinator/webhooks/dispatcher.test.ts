import { createHash, generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger.js';
import { openDatabase } from '../db/open.js';
import { WebhookDispatcher, type WebhookDispatcherDeps } from './dispatcher.js';
import { webhookOutboxRepo } from './outbox-repo.js';
import { WEBHOOK_SIGNATURE_HEADER } from './sign.js';

const logger = createLogger({ name: 'test', level: 'silent' });

/** An app that answers each event with the next status of `script` (then 200). */
async function app(script: number[]) {
  const got: { id: string; status: number; body: string; sig: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      const id = String(req.headers['fennec-event-id']);
      const status = script[got.filter((g) => g.id === id).length] ?? 200;
      got.push({ id, status, body, sig: String(req.headers[WEBHOOK_SIGNATURE_HEADER]) });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, got, close: () => server.close() };
}

describe('webhook dispatcher', () => {
  const closers: (() => unknown)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  /** The apps here listen on 127.0.0.1: delivering to them needs allowPrivate (as the local cluster sets it). */
  function setup(maxAttempts: number, policy: Partial<WebhookDispatcherDeps> = { allowPrivate: true }) {
    const db = openDatabase(':memory:');
    const outbox = webhookOutboxRepo(db);
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const d = new WebhookDispatcher({
      outbox,
      logger,
      issuer: 'fennec-coordinator',
      signingKey: () => ({ kid: 'k1', privateKey }),
      baseBackoffMs: 20,
      maxBackoffMs: 100,
      maxAttempts,
      pollMs: 20,
      ...policy,
    });
    d.start();
    closers.push(() => d.stop());
    return { outbox, publicKey, d, db };
  }

  it('retries a 500, delivers each event once, queues an event only once, signs the exact body', async () => {
    const a = await app([500]);
    closers.push(a.close);
    const { outbox, publicKey, d } = setup(5);
    const payload = JSON.stringify({ id: 'u1.image.ready', type: 'image.ready', data: { image_uuid: 'u1' } });
    expect(outbox.add({ event_id: 'u1.image.ready', app_id: 'app-1', url: a.url, event: 'image.ready', payload }, Date.now())).toBe(true);
    expect(outbox.add({ event_id: 'u1.image.ready', app_id: 'app-1', url: a.url, event: 'image.ready', payload }, Date.now())).toBe(false);
    d.wake();
    const end = Date.now() + 5000;
    while (outbox.pending() > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(a.got.map((g) => g.status)).toEqual([500, 200]);
    const { payload: claims } = await jwtVerify(a.got[1]!.sig, publicKey, {
      audience: 'app-1',
      issuer: 'fennec-coordinator',
      subject: 'image.ready',
    });
    expect(claims.sha256).toBe(createHash('sha256').update(a.got[1]!.body).digest('hex'));
    expect(claims.jti).toBe('u1.image.ready');
  });

  it('gives up after maxAttempts and keeps the row as dead', async () => {
    const a = await app([503, 503, 503, 503]);
    closers.push(a.close);
    const { outbox, d } = setup(3);
    outbox.add({ event_id: 'u2.image.failed', app_id: 'app-1', url: a.url, event: 'image.failed', payload: '{}' }, Date.now());
    d.wake();
    const end = Date.now() + 5000;
    while (outbox.pending() > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(outbox.pending()).toBe(0);
    expect(a.got).toHaveLength(3);
  });

  describe('SSRF: webhooks go to public hosts only unless allowed (issue 17, item 7)', () => {
    /** Waits until the row is no longer pending or retried once; returns the outbox row. */
    async function settle({ outbox, d, db }: ReturnType<typeof setup>, url: string, id: string) {
      outbox.add({ event_id: id, app_id: 'app-1', url, event: 'image.ready', payload: '{}' }, Date.now());
      d.wake();
      const end = Date.now() + 3000;
      const row = () =>
        db.prepare('SELECT attempts, last_error, dead, delivered_at FROM webhook_outbox WHERE event_id = ?').get(id) as Record<
          string,
          unknown
        >;
      while (Date.now() < end && !row().dead && !row().delivered_at && Number(row().attempts) === 0)
        await new Promise((r) => setTimeout(r, 20));
      return row();
    }

    it('never connects to a loopback, link-local or mapped-loopback literal; the row is dead at once', async () => {
      const a = await app([]);
      closers.push(a.close);
      const h = setup(5, {});
      const port = new URL(a.url).port;
      for (const [i, url] of [
        `http://127.0.0.1:${port}/`,
        `http://[::ffff:127.0.0.1]:${port}/`,
        `http://localhost:${port}/`,
        'http://169.254.169.254/latest/meta-data/',
      ].entries()) {
        const row = await settle(h, url, `lit-${i}`);
        expect(row.dead, url).toBe(1);
        expect(String(row.last_error)).toContain('not a public');
      }
      expect(a.got).toEqual([]);
    });

    it('never connects to a name that resolves to a private address (checked on the address connected to)', async () => {
      const a = await app([]);
      closers.push(a.close);
      const resolveAll: WebhookDispatcherDeps['resolveAll'] = (_host, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]);
      const row = await settle(setup(5, { resolveAll }), `http://hooks.example:${new URL(a.url).port}/`, 'dns-1');
      expect(row.dead).toBe(1);
      expect(String(row.last_error)).toContain('127.0.0.1');
      expect(a.got).toEqual([]);
    });

    it('does not follow a redirect (to a private address or anywhere)', async () => {
      const inner = await app([]);
      closers.push(inner.close);
      const redirect = http.createServer((_req, res) => res.writeHead(302, { location: inner.url }).end());
      await new Promise<void>((r) => redirect.listen(0, '127.0.0.1', r));
      closers.push(() => redirect.close());
      const row = await settle(setup(5), `http://127.0.0.1:${(redirect.address() as AddressInfo).port}/`, 'redir-1');
      expect(row.last_error).toBe('http 302');
      expect(inner.got).toEqual([]);
    });
  });
});
