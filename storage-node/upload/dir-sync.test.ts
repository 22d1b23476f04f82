import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirSync, fsyncDir } from './dir-sync.js';

/** A controllable fsync: records calls, each completes when the test says so. */
function fakeFsync() {
  const calls: { dir: string; finish: (err?: Error) => void }[] = [];
  const fsync = (dir: string) =>
    new Promise<void>((resolve, reject) => calls.push({ dir, finish: (err) => (err ? reject(err) : resolve()) }));
  return { calls, fsync };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('DirSync', () => {
  it('batches callers that arrive before the fsync starts into one fsync', async () => {
    const f = fakeFsync();
    const ds = new DirSync({ fsync: f.fsync });
    const waits = [ds.sync('/a'), ds.sync('/a'), ds.sync('/a')];
    await tick();
    expect(f.calls).toHaveLength(1);
    f.calls[0]!.finish();
    await Promise.all(waits);
  });

  it('makes callers arriving during a running fsync wait for the next one', async () => {
    const f = fakeFsync();
    const ds = new DirSync({ fsync: f.fsync });
    let firstDone = false;
    let secondDone = false;
    void ds.sync('/a').then(() => (firstDone = true));
    await tick();
    expect(f.calls).toHaveLength(1);
    const late = [ds.sync('/a').then(() => (secondDone = true)), ds.sync('/a')];
    f.calls[0]!.finish();
    await tick();
    expect(firstDone).toBe(true);
    expect(secondDone).toBe(false);
    await tick();
    expect(f.calls).toHaveLength(2);
    f.calls[1]!.finish();
    await Promise.all(late);
    expect(secondDone).toBe(true);
  });

  it('keeps directories independent and propagates fsync errors to the batch', async () => {
    const f = fakeFsync();
    const ds = new DirSync({ fsync: f.fsync });
    const a = ds.sync('/a');
    const b = ds.sync('/b');
    await tick();
    expect(f.calls.map((c) => c.dir).sort()).toEqual(['/a', '/b']);
    f.calls.find((c) => c.dir === '/a')!.finish(new Error('EIO'));
    f.calls.find((c) => c.dir === '/b')!.finish();
    await expect(a).rejects.toThrow('EIO');
    await expect(b).resolves.toBeUndefined();
  });

  it('fsyncs a real directory', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dirsync-'));
    try {
      await new DirSync().sync(dir);
      await fsyncDir(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
