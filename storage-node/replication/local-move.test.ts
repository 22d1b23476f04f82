import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyWithinNode } from './local-move.js';
import type { LocalObject } from './local-objects.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const UUID = '0a1b2c3d-0000-4000-8000-000000000001';
const ORIGINAL = `original/2026/12/01/${UUID}.jpg`;
const VARIANTS = [`variants/2026/12/01/${UUID}.webp`, `variants/2026/12/01/${UUID}_small.webp`];

let roots: string[] = [];
function pool(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'fennec-local-move-'));
  mkdirSync(path.join(root, 'tmp'));
  roots.push(root);
  return root;
}
function put(root: string, rel: string, data: Buffer): void {
  mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  writeFileSync(path.join(root, rel), data);
}
function object(data: Buffer, overrides: Partial<LocalObject> = {}): LocalObject {
  return {
    uuid: UUID,
    session_id: 's',
    user_id: 'u',
    pool_id: 'p1',
    rel_path: ORIGINAL,
    size: data.length,
    sha256: sha(data),
    mime: 'image/jpeg',
    created_at: '2026-12-01T00:00:00.000Z',
    status: 'ready',
    width: 1,
    height: 1,
    format: 'jpeg',
    variants: JSON.stringify(VARIANTS.map((rel_path) => ({ name: rel_path, rel_path, width: 1, height: 1, bytes: 1, mime: 'image/webp' }))),
    scrub_state: null,
    last_scrub_at: null,
    ...overrides,
  };
}
const tmpOf = (root: string) => readdirSync(path.join(root, 'tmp'));

afterEach(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  roots = [];
});

describe('copyWithinNode', () => {
  it('copies the original and every variant there is, byte for byte, leaving no temp file', async () => {
    const from = pool();
    const to = pool();
    const data = Buffer.from('original bytes');
    put(from, ORIGINAL, data);
    put(from, VARIANTS[0]!, Buffer.from('webp'));
    await copyWithinNode({ from, to, object: object(data) });
    expect(readFileSync(path.join(to, ORIGINAL))).toEqual(data);
    expect(readFileSync(path.join(to, VARIANTS[0]!)).toString()).toBe('webp');
    expect(readdirSync(path.join(to, 'variants/2026/12/01'))).toEqual([`${UUID}.webp`]);
    expect(tmpOf(to)).toEqual([]);
  });

  it('refuses an original that is missing or hashes otherwise than recorded, and keeps nothing of it', async () => {
    const from = pool();
    const to = pool();
    const data = Buffer.from('original bytes');
    await expect(copyWithinNode({ from, to, object: object(data) })).rejects.toMatchObject({ name: 'LocalCopyBad', reason: 'missing' });
    put(from, ORIGINAL, Buffer.from('rotten bytes!!'));
    await expect(copyWithinNode({ from, to, object: object(data) })).rejects.toMatchObject({ name: 'LocalCopyBad', reason: 'mismatch' });
    expect(readdirSync(to).sort()).toEqual(['tmp']);
    expect(tmpOf(to)).toEqual([]);
  });
});
