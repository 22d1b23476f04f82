import { createHash, type Hash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { FileStore } from '@tus/file-store';
import { Server } from '@tus/server';
import { TUS_PATH } from '../../shared/api.js';
import type { Logger } from '../../shared/logger.js';
import { TMP_DIR } from '../../shared/paths.js';
import type { TusRegistry, TusUploadRow } from '../db/tus.js';
import type { PoolSet } from '../pools.js';

export { TUS_PATH };
/** Response header of the request that completed an upload (final PATCH, or a one-shot POST). */
export const IMAGE_UUID_HEADER = 'Fennec-Image-Uuid';
/** Subdirectory of `{pool}/tmp/` holding tus uploads: they survive restarts (unlike `*.part`). */
export const TUS_DIR = 'tus';
/** 24 random bytes, base64url: unguessable, and no `/`, `.` or `\` — never a path outside tmp/tus. */
const ID_PATTERN = /^[A-Za-z0-9_-]{32}$/;

export interface TusServiceOptions {
  pools: PoolSet;
  registry: TusRegistry;
  /** Upload-Expires = creation + this; the sweep removes what is left after it. */
  expirationMs: number;
  logger: Logger;
}

interface PoolTus {
  server: Server;
  store: FileStore;
  dir: string;
}

/**
 * One @tus/server with a FileStore per pool (bytes in `{pool}/tmp/tus/`, same filesystem as
 * `original/` so completion is a rename), the per-upload PATCH serialization, and the
 * expiration sweep. Knows nothing of tokens or HTTP routing: routes/tus.ts does that.
 */
export class TusService {
  readonly registry: TusRegistry;
  readonly expirationMs: number;
  readonly #byPool = new Map<string, PoolTus>();
  /** The id the route chose for a creation request, handed to @tus/server's namingFunction. */
  readonly #newIds = new WeakMap<Request, string>();
  readonly #busy = new Set<string>();
  /**
   * SHA-256 of each upload's bytes so far, while this process saw all of them in order: the
   * final PATCH then needs no second read of the file. Dropped on any doubt (an interrupted or
   * refused chunk, a restart); completion then hashes the file instead.
   */
  readonly #hashes = new Map<string, { hash: Hash; offset: number }>();
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: TusServiceOptions) {
    this.registry = opts.registry;
    this.expirationMs = opts.expirationMs;
    this.#logger = opts.logger;
    for (const pool of opts.pools.all()) {
      const dir = path.join(pool.config.path, TMP_DIR, TUS_DIR);
      mkdirSync(dir, { recursive: true });
      const store = new FileStore({ directory: dir, expirationPeriodInMilliseconds: opts.expirationMs });
      // Upload-Length is required at creation: the token's max is checked before any byte.
      store.extensions = store.extensions.filter((e) => e !== 'creation-defer-length');
      const server = new Server({
        path: TUS_PATH,
        datastore: store,
        // Behind nginx the client resolves a relative Location against the URL it used.
        relativeLocation: true,
        exposedHeaders: [IMAGE_UUID_HEADER],
        namingFunction: (req) => {
          const id = this.#newIds.get(req);
          if (!id) throw new Error('tus creation without an id chosen by the route');
          return id;
        },
      });
      this.#byPool.set(pool.config.id, { server, store, dir });
    }
  }

  static isId(id: string): boolean {
    return ID_PATTERN.test(id);
  }

  newId(): string {
    return randomBytes(24).toString('base64url');
  }

  /** Hands a request to the pool's tus server; `newId` names the upload a POST creates. */
  handle(poolId: string, req: Request, newId?: string): Promise<Response> {
    const tus = this.#pool(poolId);
    if (newId) this.#newIds.set(req, newId);
    return tus.server.handleWeb(req);
  }

  /** Where an upload's bytes are. */
  filePath(row: Pick<TusUploadRow, 'id' | 'pool_id'>): string {
    return path.join(this.#pool(row.pool_id).dir, row.id);
  }

  /**
   * Takes the upload for one writer. Undefined when another request holds it: concurrent
   * PATCHes are refused (409), never interleaved.
   */
  tryLock(id: string): (() => void) | undefined {
    if (this.#busy.has(id)) return undefined;
    this.#busy.add(id);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#busy.delete(id);
    };
  }

  /** The running hash to continue at `offset` (taken: put it back with `keepHash`), if any. */
  takeHash(id: string, offset: number): Hash | undefined {
    const state = this.#hashes.get(id);
    this.#hashes.delete(id);
    if (state?.offset === offset) return state.hash;
    return offset === 0 ? createHash('sha256') : undefined;
  }

  keepHash(id: string, hash: Hash, offset: number): void {
    this.#hashes.set(id, { hash, offset });
  }

  /** Puts the running hash back if exactly the bytes it saw were written (offset before + hashed = offset after). */
  keepHashIfExact(id: string, before: number, res: Response, fwd: { running: Hash | undefined; hashed: () => number }): void {
    const after = before + fwd.hashed();
    if (fwd.running && after === Number(res.headers.get('upload-offset'))) this.keepHash(id, fwd.running, after);
  }

  /** Hex SHA-256 of the whole upload if the running hash covers exactly `size` bytes. */
  digest(id: string, size: number): string | undefined {
    const state = this.#hashes.get(id);
    this.#hashes.delete(id);
    return state?.offset === size ? state.hash.digest('hex') : undefined;
  }

  /** Drops an upload: its bytes (if still there), its tus info file and its row. */
  async remove(row: Pick<TusUploadRow, 'id' | 'pool_id'>): Promise<void> {
    const file = this.filePath(row);
    await Promise.all([fs.rm(file, { force: true }), fs.rm(`${file}.json`, { force: true })]);
    this.registry.delete(row.id);
    this.#hashes.delete(row.id);
  }

  /** Removes expired uploads: the FileStore's own expiration, then rows (and leftovers) of ours. */
  async sweep(nowMs = Date.now()): Promise<number> {
    let removed = 0;
    for (const [poolId, tus] of this.#byPool) {
      try {
        removed += await tus.server.cleanUpExpiredUploads();
      } catch (err) {
        this.#logger.warn({ err, pool_id: poolId }, 'tus expiration sweep failed');
      }
    }
    for (const row of this.registry.expired(nowMs)) {
      if (this.#busy.has(row.id) || !this.#byPool.has(row.pool_id)) continue;
      await this.remove(row);
      removed++;
    }
    if (removed > 0) this.#logger.info({ removed }, 'removed expired tus uploads');
    return removed;
  }

  start(): void {
    const every = Math.min(60_000, Math.max(1000, Math.floor(this.expirationMs / 2)));
    this.#timer = setInterval(() => void this.sweep(), every);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #pool(poolId: string): PoolTus {
    const tus = this.#byPool.get(poolId);
    if (!tus) throw new Error(`no tus store for pool ${poolId}`);
    return tus;
  }
}
