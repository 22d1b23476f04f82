import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { COORDINATOR_AUDIENCE, type UploadComplete } from '../shared/api.js';
import { createLogger } from '../shared/logger.js';
import { NODE_REPORTS } from '../shared/reports.js';
import { sha256Hex, verifyNodeRequest } from '../shared/tokens.js';
import { type Db, openDb } from './db/open.js';
import { createStore, type NodeStore, type OutboxRow } from './db/store.js';
import { Outbox } from './outbox.js';

const key = generateKeyPairSync('ed25519');
let db: Db | undefined;
afterEach(() => db?.close());

function setup(
  send: (url: string, body: string, token: string) => Promise<number>,
  backoff = { base: 500, max: 2000 },
  onRefused?: (store: NodeStore, row: OutboxRow) => Promise<void>,
) {
  db = openDb(':memory:');
  const store = createStore(db);
  const outbox = new Outbox({
    store,
    logger: createLogger({ name: 't', level: 'silent' }),
    nodeId: 'n1',
    nodeKey: key.privateKey,
    coordinatorUrl: 'http://coord.test',
    maxBackoffMs: backoff.max,
    baseBackoffMs: backoff.base,
    send,
    pollMs: 20,
    onRefused: onRefused && ((row) => onRefused(store, row)),
  });
  return { store, outbox };
}

function insert(store: NodeStore, uuid: string) {
  const row = {
    uuid,
    session_id: 's',
    user_id: 'u',
    pool_id: 'p1',
    rel_path: `original/2024/01/01/${uuid}.jpg`,
    size: 1,
    sha256: 'a'.repeat(64),
    mime: 'image/jpeg',
    created_at: new Date().toISOString(),
  };
  const complete: UploadComplete = { ...row, image_uuid: uuid, node_id: 'n1' };
  return store.recordUpload(row, complete, Date.now());
}
const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
};

describe('Outbox', () => {
  it('delivers a signed, body-bound request and deletes the row on 2xx', async () => {
    const seen: { url: string; body: string; token: string }[] = [];
    const { store, outbox } = setup(async (url, body, token) => {
      seen.push({ url, body, token });
      return 200;
    });
    insert(store, '00000000-0000-4000-8000-000000000001');
    outbox.start();
    outbox.wake();
    await until(() => store.outboxPending() === 0);
    await outbox.stop();
    expect(seen[0]!.url).toBe('http://coord.test/api/internal/uploads/complete');
    const claims = await verifyNodeRequest(seen[0]!.token, {
      audience: COORDINATOR_AUDIENCE,
      purpose: NODE_REPORTS['upload.complete'].purpose,
      sha256: sha256Hex(seen[0]!.body),
      resolveNodeKey: (id) => (id === 'n1' ? key.publicKey : undefined),
    });
    expect(claims.iss).toBe('n1');
  });

  it('retries 5xx, 401, 429 and network errors with growing backoff, then delivers', async () => {
    const answers: (number | Error)[] = [503, 401, 429, new Error('ECONNREFUSED'), 201];
    const times: number[] = [];
    const { store, outbox } = setup(
      async () => {
        times.push(Date.now());
        const a = answers.shift()!;
        if (a instanceof Error) throw a;
        return a;
      },
      { base: 20, max: 80 },
    );
    insert(store, '00000000-0000-4000-8000-000000000002');
    outbox.start();
    await until(() => store.outboxPending() === 0);
    await outbox.stop();
    expect(answers).toEqual([]);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(15);
    expect(gaps[2]).toBeGreaterThanOrEqual(70);
    expect(gaps[3]).toBeGreaterThanOrEqual(70);
  });

  it('on a 410 undoes the row on this node (onRefused) and does not retry it', async () => {
    let calls = 0;
    const refused: string[] = [];
    const send = async () => {
      calls++;
      return 410;
    };
    const { store, outbox } = setup(send, undefined, async (s, row) => {
      const { image_uuid } = JSON.parse(row.payload) as UploadComplete;
      refused.push(image_uuid);
      s.deleteObject(image_uuid);
    });
    const uuid = '00000000-0000-4000-8000-000000000009';
    insert(store, uuid);
    outbox.start();
    await until(() => store.outboxPending() === 0);
    await new Promise((r) => setTimeout(r, 100));
    await outbox.stop();
    expect(calls).toBe(1);
    expect(refused).toEqual([uuid]);
    expect(store.getObject(uuid)).toBeUndefined();
    expect(db!.prepare('SELECT COUNT(*) AS n FROM outbox').get()).toEqual({ n: 0 });
  });

  it('marks a row dead on other 4xx and stops retrying it', async () => {
    let calls = 0;
    const { store, outbox } = setup(async () => {
      calls++;
      return 409;
    });
    insert(store, '00000000-0000-4000-8000-000000000003');
    outbox.start();
    await until(() => store.outboxPending() === 0);
    await new Promise((r) => setTimeout(r, 100));
    await outbox.stop();
    expect(calls).toBe(1);
    expect(db!.prepare('SELECT dead, last_error FROM outbox').get()).toEqual({ dead: 1, last_error: 'http 409' });
  });

  it('sends each kind to its path in the report table, signed for its purpose; a direct report or an unknown kind is dead', async () => {
    const seen: { url: string; token: string }[] = [];
    const { store, outbox } = setup(async (url, _body, token) => {
      seen.push({ url, token });
      return 200;
    });
    const add = db!.prepare('INSERT INTO outbox (kind, payload, next_attempt_at, created_at) VALUES (?, ?, ?, ?)');
    const outboxKinds = Object.entries(NODE_REPORTS).filter(([, r]) => r.delivery === 'outbox');
    for (const [kind] of outboxKinds) add.run(kind, JSON.stringify({ kind }), 0, 0);
    add.run('move.item', '{}', 0, 0);
    add.run('no.such.kind', '{}', 0, 0);
    outbox.start();
    await until(() => store.outboxPending() === 0);
    await outbox.stop();
    expect(seen.map((s) => s.url)).toEqual(outboxKinds.map(([, r]) => `http://coord.test${r.path}`));
    for (const [i, [, r]] of outboxKinds.entries()) expect(decodeJwt(seen[i]!.token).sub).toBe(r.purpose);
    expect(db!.prepare('SELECT kind FROM outbox WHERE dead = 1 ORDER BY id').pluck().all()).toEqual(['move.item', 'no.such.kind']);
  });
});
