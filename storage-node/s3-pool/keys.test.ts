import { describe, expect, it } from 'vitest';
import { isS3PoolRel, s3PoolKey } from './keys.js';
import { presignWindow } from './pool.js';

describe('s3 pool keys', () => {
  it('is {prefix}/{pool-relative path} for every file of an object', () => {
    const u = '0a1b2c3d-0000-4000-8000-000000000000';
    expect(s3PoolKey('cold', `original/2026/12/01/${u}.jpg`)).toBe(`cold/original/2026/12/01/${u}.jpg`);
    expect(s3PoolKey('cold', `variants/2026/12/01/${u}_small.webp`)).toBe(`cold/variants/2026/12/01/${u}_small.webp`);
    expect(s3PoolKey('/a/b/', `private/original/2026/12/01/${u}.png`)).toBe(`a/b/private/original/2026/12/01/${u}.png`);
    expect(s3PoolKey('', `private/variants/2026/12/01/${u}_full.avif`)).toBe(`private/variants/2026/12/01/${u}_full.avif`);
  });

  it('refuses what the pool never holds, so no URL reaches another key', () => {
    for (const rel of [
      '',
      'tmp/x.part',
      '.fennec-pool.json',
      'original/../tmp/x',
      'original//x',
      'original/.x',
      'private/tmp/x',
      'original/a%2fb',
      'original/a\\b',
      'x/original/a',
    ])
      expect(isS3PoolRel(rel), rel).toBe(false);
    expect(() => s3PoolKey('p', 'tmp/x')).toThrow(/not an s3 pool path/);
    expect(isS3PoolRel('original/2026/12/01/u.jpg')).toBe(true);
  });
});

describe('presignWindow', () => {
  const at = (s: number) => s * 1000;
  it('signs a public file at the start of the current half period: one URL per half, valid ≥ half more', () => {
    const a = presignWindow(3600, at(7200 + 10));
    const b = presignWindow(3600, at(7200 + 1799));
    expect(a.signedAt.getTime()).toBe(at(7200));
    expect(b.signedAt).toEqual(a.signedAt);
    expect(a.expiresIn).toBe(3600);
    expect(b.remaining).toBe(3600 - 1799);
    expect(presignWindow(3600, at(7200 + 1800)).signedAt.getTime()).toBe(at(9000));
  });

  it('signs a private file now, never past its signed URL, and at least for a second', () => {
    expect(presignWindow(3600, at(1000), 1600)).toEqual({ signedAt: new Date(at(1000)), expiresIn: 600, remaining: 600 });
    expect(presignWindow(300, at(1000), 99_999).expiresIn).toBe(300);
    expect(presignWindow(300, at(1000), 1000).expiresIn).toBe(1);
  });
});
