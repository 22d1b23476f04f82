import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { ChecksumHeaderError, ChecksumMismatchError, ChecksumStream, parseUploadChecksum } from './checksum.js';

const b64 = (algo: string, data: Buffer) => createHash(algo).update(data).digest('base64');

async function run(cs: ChecksumStream, data: Buffer[]): Promise<number> {
  let n = 0;
  await pipeline(Readable.from(data), cs, new Writable({ write: (c: Buffer, _e, done) => ((n += c.length), done()) }));
  return n;
}

describe('Upload-Checksum', () => {
  it('parses sha1 and sha256, refuses other algorithms and bad syntax', () => {
    expect(parseUploadChecksum(undefined)).toBeUndefined();
    expect(parseUploadChecksum(`sha1 ${b64('sha1', Buffer.from('x'))}`)!.algorithm).toBe('sha1');
    expect(parseUploadChecksum(`SHA256 ${b64('sha256', Buffer.from('x'))}`)!.algorithm).toBe('sha256');
    expect(() => parseUploadChecksum('md5 AAAA')).toThrow(ChecksumHeaderError);
    expect(() => parseUploadChecksum('sha1')).toThrow(ChecksumHeaderError);
  });

  it('passes matching bytes and fails the stream before its end on a mismatch', async () => {
    const data = [Buffer.from('hello '), Buffer.from('world')];
    const all = Buffer.concat(data);
    expect(await run(new ChecksumStream(parseUploadChecksum(`sha256 ${b64('sha256', all)}`)!), data)).toBe(all.length);
    const bad = new ChecksumStream(parseUploadChecksum(`sha1 ${b64('sha1', Buffer.from('other'))}`)!);
    await expect(run(bad, data)).rejects.toBeInstanceOf(ChecksumMismatchError);
    expect(bad.mismatched).toBe(true);
  });
});
