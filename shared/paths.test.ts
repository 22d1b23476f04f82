import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError } from './errors.js';
import { datePath, originalRelPath, publicUrl, resolveInPool } from './paths.js';

describe('pool paths', () => {
  it('files by UTC date', () => {
    const d = new Date('2026-03-04T23:59:59-05:00'); // 2026-03-05 04:59 UTC
    expect(datePath(d)).toBe('2026/03/05');
    expect(originalRelPath('0d9c…'.replace('…', ''), 'jpg', d)).toBe('original/2026/03/05/0d9c.jpg');
    expect(originalRelPath('0d9c', 'jpg', d, 'private')).toBe('private/original/2026/03/05/0d9c.jpg');
  });

  it('resolves pool-relative paths inside the pool', () => {
    expect(resolveInPool('/srv/p1', 'original/2026/03/05/a.jpg')).toBe(path.join('/srv/p1', 'original/2026/03/05/a.jpg'));
  });

  it.each([
    '../etc/passwd',
    'original/../../etc/passwd',
    '/etc/passwd',
    'original/%2e%2e/x',
    'original\\..\\x',
    'original/a\0b',
    'original//a',
    'original/./a',
    '.fennec-pool.json/..',
    '',
  ])('refuses %j', (rel) => {
    expect(() => resolveInPool('/srv/p1', rel)).toThrow(AppError);
  });

  it('joins public URLs without doubled slashes', () => {
    expect(publicUrl('https://s01.example.com/', 'original/a.jpg')).toBe('https://s01.example.com/uploads/original/a.jpg');
  });
});
