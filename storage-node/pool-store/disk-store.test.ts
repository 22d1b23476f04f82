import { mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DirSync } from '../upload/dir-sync.js';
import { poolStoreContract } from './contract.js';
import { DiskStore } from './disk-store.js';

function tempPool(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'fennec-disk-store-'));
  mkdirSync(path.join(root, 'tmp'));
  return root;
}

/** Every file below `root`, `tmp/` included, as pool-relative paths. */
const filesUnder = (root: string) =>
  readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();

poolStoreContract('disk', async () => {
  const root = tempPool();
  const maxBytes = 10 ** 12;
  return {
    store: new DiskStore({ root, maxBytes }),
    entries: async () => filesUnder(root),
    expectedCapacity: async (used) => {
      const st = statfsSync(root);
      return {
        total_bytes: Math.min(st.blocks * st.bsize, maxBytes),
        free_bytes: Math.min(st.bavail * st.bsize, Math.max(0, maxBytes - used)),
      };
    },
    close: async () => rmSync(root, { recursive: true, force: true }),
  };
});

describe('DiskStore', () => {
  it('stages through a transform, then commits to a path chosen afterwards, fsyncing new directories and their parents', async () => {
    const root = tempPool();
    const synced: string[] = [];
    const store = new DiskStore({ root, dirSync: new DirSync({ fsync: async (d) => void synced.push(path.relative(root, d)) }) });
    let seen = 0;
    const transform = new PassThrough().on('data', (c: Buffer) => (seen += c.length));
    const staged = await store.stage(Readable.from([Buffer.from('hello')]), { maxBytes: 5, transform, tmpName: 'u1' });
    expect(staged.tmpPath).toBe(path.join(root, 'tmp', 'u1.part'));
    expect(seen).toBe(5);
    await store.commit(staged, 'original/2026/12/01/u1.jpg');
    expect(filesUnder(root)).toEqual(['original/2026/12/01/u1.jpg']);
    expect(synced.sort()).toEqual(
      ['', 'original', 'original/2026', 'original/2026/12', 'original/2026/12/01'].map((d) => d.split('/').join(path.sep)),
    );
    rmSync(root, { recursive: true, force: true });
  });

  it('maps a full disk to insufficient_storage', async () => {
    const root = tempPool();
    const store = new DiskStore({ root });
    const full = new Readable({
      read() {
        this.destroy(Object.assign(new Error('no space'), { code: 'ENOSPC' }));
      },
    });
    await expect(store.write(full, 'original/x.jpg', { maxBytes: 10 })).rejects.toMatchObject({
      code: 'insufficient_storage',
      status: 507,
    });
    expect(filesUnder(root)).toEqual([]);
    rmSync(root, { recursive: true, force: true });
  });
});
