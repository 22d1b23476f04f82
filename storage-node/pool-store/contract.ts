import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../shared/errors.js';
import type { PoolStore } from './pool-store.js';

/** A store under test and a look at what it holds besides its objects (temp files, stray keys). */
export interface ContractSubject {
  store: PoolStore;
  /** Every entry the store holds (files under the root, keys in the bucket), pool-relative. */
  entries(): Promise<string[]>;
  /** What `capacity(used)` must answer. */
  expectedCapacity(usedBytes: number): Promise<{ total_bytes: number; free_bytes: number }>;
  close(): Promise<void>;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let seq = 0;
const relOf = () => `original/2026/12/0${1 + (seq % 3)}/0a1b2c3d-0000-4000-8000-${String(seq++).padStart(12, '0')}.jpg`;

/** A body that yields `data` in chunks and then, optionally, fails or waits for ever. */
function body(data: Buffer, end: 'end' | 'hang' = 'end'): Readable {
  const chunks = [];
  for (let i = 0; i < data.length; i += 64 * 1024) chunks.push(data.subarray(i, i + 64 * 1024));
  return Readable.from(
    (async function* () {
      yield* chunks;
      if (end === 'hang') await new Promise(() => undefined);
    })(),
  );
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return isAppError(err) ? err.code : String(err);
  }
  return 'resolved';
}

/**
 * The cases every PoolStore passes, written once (as tus-node-server's stores share
 * `packages/utils/src/test/stores.ts`) and run against the disk store and the s3 pool.
 */
export function poolStoreContract(name: string, open: () => Promise<ContractSubject>): void {
  describe(`PoolStore contract: ${name}`, () => {
    let s: ContractSubject;
    beforeAll(async () => {
      s = await open();
    });
    afterAll(async () => {
      await s?.close();
    });
    const data = randomBytes(300_000);

    it('writes, then reads, stats and recognises the same bytes', async () => {
      const rel = relOf();
      expect(await s.store.write(body(data), rel, { maxBytes: data.length })).toEqual({ size: data.length, sha256: sha(data) });
      expect(await buffer((await s.store.read(rel))!)).toEqual(data);
      expect(await s.store.stat(rel)).toEqual({ size: data.length });
      expect(await s.store.holds(rel, { size: data.length, sha256: sha(data) })).toBe(true);
      expect(await s.store.holds(rel, { size: data.length, sha256: sha(Buffer.from('other')) })).toBe(false);
      expect(await s.entries()).toContain(rel);
    });

    it('has nothing to read or stat where nothing was written', async () => {
      const rel = relOf();
      expect(await s.store.read(rel)).toBeUndefined();
      expect(await s.store.stat(rel)).toBeUndefined();
      expect(await s.store.holds(rel, { size: 1, sha256: sha(Buffer.from('x')) })).toBe(false);
    });

    it('refuses a body past maxBytes with too_large and keeps nothing of it', async () => {
      const before = await s.entries();
      const rel = relOf();
      expect(await codeOf(s.store.write(body(data), rel, { maxBytes: data.length - 1 }))).toBe('too_large');
      expect(await s.entries()).toEqual(before);
    });

    it('refuses any other length than a promised size with size_mismatch and keeps nothing', async () => {
      const before = await s.entries();
      expect(await codeOf(s.store.write(body(data), relOf(), { expectSize: data.length - 1 }))).toBe('size_mismatch');
      expect(await codeOf(s.store.write(body(data), relOf(), { expectSize: data.length + 1 }))).toBe('size_mismatch');
      expect(await s.entries()).toEqual(before);
    });

    it('refuses bytes that hash otherwise than promised with checksum_mismatch and keeps nothing', async () => {
      const before = await s.entries();
      const rel = relOf();
      const opts = { maxBytes: data.length, expectSha256: sha(Buffer.from('other')) };
      expect(await codeOf(s.store.write(body(data), rel, opts))).toBe('checksum_mismatch');
      expect(await s.entries()).toEqual(before);
      expect(await s.store.stat(rel)).toBeUndefined();
    });

    it('stops on abort with incomplete_body (or the abort reason) and keeps nothing', async () => {
      const before = await s.entries();
      const ac = new AbortController();
      const write = s.store.write(body(data, 'hang'), relOf(), { maxBytes: data.length * 2, signal: ac.signal });
      setTimeout(() => ac.abort(), 100);
      expect(await codeOf(write)).toBe('incomplete_body');
      expect(await s.entries()).toEqual(before);
    });

    it('replaces a file whole on overwrite', async () => {
      const rel = relOf();
      const other = randomBytes(1000);
      await s.store.write(body(data), rel, { maxBytes: data.length });
      await s.store.write(body(other), rel, { maxBytes: data.length, expectSize: other.length, expectSha256: sha(other) });
      expect(await buffer((await s.store.read(rel))!)).toEqual(other);
      expect((await s.entries()).filter((e) => e === rel)).toHaveLength(1);
    });

    it('removes a file, and removing a missing one is fine', async () => {
      const rel = relOf();
      await s.store.write(body(data), rel, { maxBytes: data.length });
      await s.store.remove(rel);
      expect(await s.store.stat(rel)).toBeUndefined();
      await s.store.remove(rel);
      await s.store.remove(relOf());
    });

    it('reports its capacity figures', async () => {
      for (const used of [0, 1000, 10 ** 15]) expect(await s.store.capacity(used)).toEqual(await s.expectedCapacity(used));
    });
  });
}
