import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PoolConfig } from './config.js';
import { ensurePoolMarker, PoolSet, PoolSetupError, preparePool } from './pools.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'pools-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const pool = (id: string, dir = path.join(root, id), max_bytes: number | null = null): PoolConfig => ({
  id,
  tier: 'hot',
  path: dir,
  public_base_url: 'http://127.0.0.1:8081',
  max_bytes,
});

describe('pool markers', () => {
  it('creates a marker in a missing or empty directory', () => {
    expect(ensurePoolMarker(pool('p1'))).toBe(true);
    const marker = JSON.parse(readFileSync(path.join(root, 'p1', '.fennec-pool.json'), 'utf8'));
    expect(marker.pool_id).toBe('p1');
    expect(typeof marker.created_at).toBe('string');
    mkdirSync(path.join(root, 'empty'));
    expect(ensurePoolMarker(pool('p2', path.join(root, 'empty')))).toBe(true);
  });

  it('accepts its own marker again', () => {
    ensurePoolMarker(pool('p1'));
    expect(ensurePoolMarker(pool('p1'))).toBe(false);
  });

  it('refuses a marker naming another pool', () => {
    ensurePoolMarker(pool('p1'));
    expect(() => ensurePoolMarker(pool('p9', path.join(root, 'p1')))).toThrow(PoolSetupError);
    expect(() => ensurePoolMarker(pool('p9', path.join(root, 'p1')))).toThrow(/belongs to pool p1/);
  });

  it('refuses a non-empty directory without a marker, unless it only holds our own subdirs', () => {
    const foreign = path.join(root, 'foreign');
    mkdirSync(foreign);
    writeFileSync(path.join(foreign, 'photo.jpg'), 'x');
    expect(() => ensurePoolMarker(pool('p1', foreign))).toThrow(/not empty/);
    const ours = path.join(root, 'ours');
    for (const d of ['tmp', 'original', 'variants']) mkdirSync(path.join(ours, d), { recursive: true });
    expect(ensurePoolMarker(pool('p1', ours))).toBe(true);
  });

  it('creates tmp/ and removes stale partial uploads at start', () => {
    const p = pool('p1');
    preparePool(p);
    writeFileSync(path.join(p.path, 'tmp', 'a.part'), 'x');
    writeFileSync(path.join(p.path, 'tmp', 'b.part'), 'x');
    expect(preparePool(p)).toBe(2);
    expect(readdirSync(path.join(p.path, 'tmp'))).toEqual([]);
  });
});

describe('PoolSet', () => {
  it('caps capacity with max_bytes: free = min(disk free, max − used)', async () => {
    const p = pool('p1', path.join(root, 'p1'), 1000);
    preparePool(p);
    const set = new PoolSet([p]);
    const cap = await set.capacity(set.get('p1')!, 300);
    expect(cap).toEqual({ total_bytes: 1000, free_bytes: 700 });
    expect((await set.capacity(set.get('p1')!, 5000)).free_bytes).toBe(0);
  });

  it('reports statfs figures without a cap, and a write probe result', async () => {
    const p = pool('p1');
    preparePool(p);
    const set = new PoolSet([p]);
    const cap = await set.capacity(set.get('p1')!, 0);
    expect(cap.total_bytes).toBeGreaterThan(0);
    expect(cap.free_bytes).toBeLessThanOrEqual(cap.total_bytes);
    expect(await set.probeAll()).toBe(true);
    rmSync(path.join(p.path, 'tmp'), { recursive: true });
    expect(await set.probe(set.get('p1')!)).toBe(false);
    expect(existsSync(path.join(p.path, 'tmp'))).toBe(false);
  });
});
