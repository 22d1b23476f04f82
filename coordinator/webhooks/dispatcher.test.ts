import { createHash, generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger.js';
import { openDatabase } from '../db/open.js';
import { WebhookDispatcher } from './dispatcher.js';
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

  function setup(maxAttempts: number) {
    const db = openDatabase(':memory:');
    const outbox = webhookOutboxRepo(db);
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const d = new WebhookDispatcher({
      outbox, logger, issuer: 'fennec-coordinator', signingKey: () => ({ kid: 'k1', privateKey }),
      baseBackoffMs: 20, maxBackoffMs: 100, maxAttempts, pollMs: 20,
    });
    d.start();
    closers.push(() => d.stop());
    return { outbox, publicKey, d };
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
    const { payload: claims } = await jwtVerify(a.got[1]!.sig, publicKey, { audience: 'app-1', issuer: 'fennec-coordinator', subject: 'image.ready' });
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
});
