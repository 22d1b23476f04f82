import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ORIGINAL_DIR, POOL_MARKER, PRIVATE_DIR, TMP_DIR, VARIANTS_DIR } from '../shared/paths.js';
import type { PoolConfig, S3PoolEntry } from './config.js';
import { diskCapacity } from './pool-store/disk-store.js';
import type { PoolCapacity } from './pool-store/pool-store.js';
import { S3Pool } from './s3-pool/pool.js';

/** A pool directory this node must not use; main.ts turns it into exit code 2. */
export class PoolSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoolSetupError';
  }
}

/** Entries a pool directory may hold before it has a marker: our own layout, and a fresh disk's lost+found. */
const ADOPTABLE = new Set([TMP_DIR, ORIGINAL_DIR, VARIANTS_DIR, PRIVATE_DIR, 'lost+found']);

/**
 * Creates or checks `{pool}/.fennec-pool.json`. A marker naming another pool, or a non-empty
 * directory without a marker, is refused: pointing a pool at the wrong disk must stop the node,
 * not mix two pools' files. Returns whether a marker was written.
 */
export function ensurePoolMarker(pool: PoolConfig, now = new Date()): boolean {
  mkdirSync(pool.path, { recursive: true });
  const marker = path.join(pool.path, POOL_MARKER);
  if (existsSync(marker)) {
    let id: unknown;
    try {
      id = (JSON.parse(readFileSync(marker, 'utf8')) as { pool_id?: unknown }).pool_id;
    } catch (err) {
      throw new PoolSetupError(`pool ${pool.id}: marker ${marker} is unreadable: ${(err as Error).message}`);
    }
    if (id !== pool.id) throw new PoolSetupError(`pool ${pool.id}: ${pool.path} belongs to pool ${String(id)} (marker ${marker})`);
    return false;
  }
  const foreign = readdirSync(pool.path).filter((e) => !ADOPTABLE.has(e));
  if (foreign.length > 0)
    throw new PoolSetupError(
      `pool ${pool.id}: ${pool.path} is not empty and has no ${POOL_MARKER} (found ${foreign.slice(0, 5).join(', ')}); refusing to adopt it`,
    );
  const tmp = `${marker}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ pool_id: pool.id, created_at: now.toISOString() })}\n`, { flush: true });
  renameSync(tmp, marker);
  return true;
}

/**
 * Start-up preparation: marker, `tmp/` present, and stale `*.part` files of a crashed process
 * removed (nothing in tmp/ was ever answered with 201). Returns how many were removed.
 */
export function preparePool(pool: PoolConfig): number {
  ensurePoolMarker(pool);
  const tmpDir = path.join(pool.path, TMP_DIR);
  mkdirSync(tmpDir, { recursive: true });
  let removed = 0;
  for (const name of readdirSync(tmpDir)) {
    if (!name.endsWith('.part')) continue;
    rmSync(path.join(tmpDir, name), { force: true });
    removed++;
  }
  return removed;
}

/** A pool as the running node sees it. */
export interface PoolRuntime {
  config: PoolConfig;
  /** realpath of the pool directory, for the static route's symlink check. */
  realRoot: string;
  /** Result of the last write probe. */
  writable: boolean;
}

export type { PoolCapacity };

/**
 * The node's pools. `get`/`all` are the disk pools only: everything that needs a directory
 * (uploads, tus, replicas, variants, scrub, backups, statfs, probes) asks them, so a row or an
 * upload token naming an s3 pool finds "no such pool" there without a check of its own. s3 pools
 * (no directory) are reached through `s3`/`allS3`.
 */
export class PoolSet {
  readonly byId = new Map<string, PoolRuntime>();
  readonly #s3 = new Map<string, S3Pool>();

  constructor(pools: PoolConfig[], s3Pools: S3PoolEntry[] = []) {
    for (const config of pools) this.byId.set(config.id, { config, realRoot: realpathSync(config.path), writable: true });
    for (const { config, credentials } of s3Pools) this.#s3.set(config.id, new S3Pool(config, credentials));
  }

  get(id: string): PoolRuntime | undefined {
    return this.byId.get(id);
  }

  all(): PoolRuntime[] {
    return [...this.byId.values()];
  }

  s3(id: string): S3Pool | undefined {
    return this.#s3.get(id);
  }

  allS3(): S3Pool[] {
    return [...this.#s3.values()];
  }

  /** statfs figures, capped by max_bytes (the disk store's own figures). */
  capacity(pool: PoolRuntime, usedBytes: number): Promise<PoolCapacity> {
    return diskCapacity(pool.config.path, pool.config.max_bytes, usedBytes);
  }

  /** Writes, fsyncs and removes a small file in tmp/: a read-only remount or a full disk shows up here. */
  async probe(pool: PoolRuntime): Promise<boolean> {
    const file = path.join(pool.config.path, TMP_DIR, `.probe-${randomUUID()}`);
    try {
      await fs.writeFile(file, 'probe', { flush: true });
      pool.writable = true;
    } catch {
      pool.writable = false;
    } finally {
      await fs.rm(file, { force: true }).catch(() => undefined);
    }
    return pool.writable;
  }

  async probeAll(): Promise<boolean> {
    const results = await Promise.all(this.all().map((p) => this.probe(p)));
    return results.every(Boolean);
  }
}
