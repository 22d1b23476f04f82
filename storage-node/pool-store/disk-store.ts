import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TMP_DIR } from '../../shared/paths.js';
import { hashFile } from '../replication/hash-file.js';
import { DirSync } from '../upload/dir-sync.js';
import { MeterStream } from '../upload/meter.js';
import type { PoolCapacity, PoolStore, StageOptions, Written } from './pool-store.js';
import { checkWritten, meterLimit, toStoreError } from './store-errors.js';

/** A file in the pool's `tmp/`, whole and fsynced, waiting for `commit` to give it its place. */
export interface Staged extends Written {
  readonly tmpPath: string;
}

export interface DiskStoreOptions {
  /** The pool directory (holds `tmp/`, on the same filesystem as everything it commits to). */
  root: string;
  /** The pool's `max_bytes`: caps the statfs figures. */
  maxBytes?: number | null;
  /** Shared group commit of directory fsyncs (the node's one); a store of its own otherwise. */
  dirSync?: DirSync;
}

/** statfs figures, capped by max_bytes: free = min(disk free, max_bytes − used). */
export async function diskCapacity(dir: string, maxBytes: number | null | undefined, usedBytes: number): Promise<PoolCapacity> {
  const st = await fs.promises.statfs(dir);
  let total = st.blocks * st.bsize;
  let free = st.bavail * st.bsize;
  if (maxBytes !== null && maxBytes !== undefined) {
    total = Math.min(total, maxBytes);
    free = Math.min(free, Math.max(0, maxBytes - usedBytes));
  }
  return { total_bytes: total, free_bytes: free };
}

/**
 * A disk pool as a PoolStore, and the only place that makes a file durable: stream to
 * `tmp/*.part` (fsynced before close with `flush: true`; on Node 20 a FileHandle stream's `sync()` then `close()` can hang forever), rename into
 * place (atomic), fsync the directory through the group-committed DirSync and, for a directory
 * just created, its parents too. `stage`/`commit` split a write for callers that choose the
 * final path only after the bytes went through (the upload names the file by its sniffed type).
 */
export class DiskStore implements PoolStore {
  readonly root: string;
  readonly #maxBytes: number | null | undefined;
  readonly #dirSync: DirSync;

  constructor(opts: DiskStoreOptions) {
    this.root = opts.root;
    this.#maxBytes = opts.maxBytes;
    this.#dirSync = opts.dirSync ?? new DirSync();
  }

  /** Absolute path of a pool-relative one. */
  path(rel: string): string {
    return path.join(this.root, ...rel.split('/'));
  }

  /** A fresh temp path in `tmp/`, for a writer that is not a stream (sharp's toFile). */
  tmpPath(name: string = randomUUID()): string {
    return path.join(this.root, TMP_DIR, `${name}.part`);
  }

  /** Streams `source` through the meter (and `opts.transform`) into a fsynced temp file; on any failure the temp file is gone first. */
  async stage(source: Readable, opts: StageOptions): Promise<Staged> {
    const tmpPath = this.tmpPath(opts.tmpName);
    const meter = new MeterStream(meterLimit(opts));
    const file = fs.createWriteStream(tmpPath, { flags: 'wx', flush: true });
    const streams = opts.transform ? [source, meter, opts.transform, file] : [source, meter, file];
    try {
      await pipeline(streams, opts.signal ? { signal: opts.signal } : {});
      if (!file.closed) await once(file, 'close');
      const written = { size: meter.bytes, sha256: meter.sha256 };
      checkWritten(written, opts);
      return { tmpPath, ...written };
    } catch (err) {
      file.destroy();
      if (!file.closed) await once(file, 'close').catch(() => undefined);
      await fs.promises.rm(tmpPath, { force: true });
      throw toStoreError(err, opts);
    }
  }

  /** fsyncs a temp file written by other means (sharp, tus FileStore) and returns its size. */
  async syncFile(file: string): Promise<number> {
    const fh = await fs.promises.open(file, 'r+');
    try {
      await fh.sync();
      return (await fh.stat()).size;
    } finally {
      await fh.close();
    }
  }

  /**
   * Renames a staged file to `rel` (over whatever is there) and makes the entry durable. With
   * `deferDirSync` the directory fsync is the caller's, who does one per directory for a batch
   * (`syncDirOf`). On failure the temp file may remain: `discard` it.
   */
  async commit(staged: Pick<Staged, 'tmpPath'>, rel: string, opts: { deferDirSync?: boolean } = {}): Promise<void> {
    const finalPath = this.path(rel);
    const dir = path.dirname(finalPath);
    try {
      const firstCreated = await fs.promises.mkdir(dir, { recursive: true });
      if (firstCreated) await this.#syncNewParents(dir, firstCreated);
      await fs.promises.rename(staged.tmpPath, finalPath);
    } catch (err) {
      throw toStoreError(err);
    }
    if (!opts.deferDirSync) await this.#dirSync.sync(dir);
  }

  /** Resolves once a fsync of `rel`'s directory that started after this call completed. */
  syncDirOf(rel: string): Promise<void> {
    return this.#dirSync.sync(path.dirname(this.path(rel)));
  }

  /** Removes a staged file that will not be committed. */
  async discard(staged: Pick<Staged, 'tmpPath'>): Promise<void> {
    await fs.promises.rm(staged.tmpPath, { force: true });
  }

  async write(source: Readable, rel: string, opts: StageOptions): Promise<Written> {
    const staged = await this.stage(source, opts);
    try {
      await this.commit(staged, rel);
    } finally {
      await this.discard(staged);
    }
    return { size: staged.size, sha256: staged.sha256 };
  }

  async read(rel: string, opts: { signal?: AbortSignal } = {}): Promise<Readable | undefined> {
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(this.path(rel), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return fh.createReadStream(opts.signal ? { signal: opts.signal } : {});
  }

  async stat(rel: string): Promise<{ size: number } | undefined> {
    try {
      const st = await fs.promises.lstat(this.path(rel));
      return st.isFile() ? { size: st.size } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async holds(rel: string, expected: Written, opts: { signal?: AbortSignal } = {}): Promise<boolean> {
    const st = await this.stat(rel);
    if (st?.size !== expected.size) return false;
    try {
      return (await hashFile(this.path(rel), opts.signal)).sha256 === expected.sha256;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async remove(rel: string): Promise<void> {
    await fs.promises.rm(this.path(rel), { force: true });
  }

  capacity(usedBytes: number): Promise<PoolCapacity> {
    return diskCapacity(this.root, this.#maxBytes, usedBytes);
  }

  /** A new day directory is itself an entry in its parent: every parent that gained one needs its fsync (once a day per pool). */
  async #syncNewParents(dir: string, firstCreated: string): Promise<void> {
    const stop = path.dirname(firstCreated);
    const parents: string[] = [];
    for (let d = dir; d !== stop && d.length > stop.length; d = path.dirname(d)) parents.push(path.dirname(d));
    await Promise.all(parents.map((d) => this.#dirSync.sync(d)));
  }
}
