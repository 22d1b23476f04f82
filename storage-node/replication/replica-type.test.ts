import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { isAppError } from '../../shared/errors.js';
import { ReplicaTypeCheck } from './replica-type.js';

const JPEG = Buffer.concat([
  Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, ...Buffer.from('JFIF\0'), 1, 1, 0, 0, 1, 0, 1, 0, 0]),
  Buffer.alloc(9000, 0xab),
]);
const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, ...Buffer.from('IHDR')]),
  Buffer.alloc(200, 1),
]);
const HTML = Buffer.from('<!doctype html><html><script>alert(document.domain)</script></html>');

/** Runs `body` (in small chunks, as a socket delivers it) through the check; what got past it, or the error. */
async function check(rel: string, body: Buffer): Promise<{ passed: Buffer; error?: unknown }> {
  const out: Buffer[] = [];
  const sink = new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) });
  const chunks = Array.from({ length: Math.ceil(body.length / 1000) }, (_, i) => body.subarray(i * 1000, (i + 1) * 1000));
  try {
    await pipeline(Readable.from(chunks), new ReplicaTypeCheck(rel), sink);
    return { passed: Buffer.concat(out) };
  } catch (error) {
    return { passed: Buffer.concat(out), error };
  }
}

describe('ReplicaTypeCheck (issue 17, item 8)', () => {
  it('passes bytes of the type the extension names through unchanged', async () => {
    expect((await check('variants/2026/11/22/u_small.jpg', JPEG)).passed.equals(JPEG)).toBe(true);
    expect((await check('original/2026/11/22/u.jpeg', JPEG)).passed.equals(JPEG)).toBe(true);
    // shorter than the sniff window: decided at the end
    expect((await check('private/variants/2026/11/22/u_medium.png', PNG)).passed.equals(PNG)).toBe(true);
  });

  it('415 type_mismatch for another image type than the extension, before a byte moves on', async () => {
    const r = await check('variants/2026/11/22/u_small.webp', JPEG);
    expect(isAppError(r.error) && { status: r.error.status, code: r.error.code }).toEqual({ status: 415, code: 'type_mismatch' });
    expect(r.passed.length).toBe(0);
  });

  it('415 unsupported_type for bytes that are no allowed image (HTML under an image name)', async () => {
    const r = await check('variants/2026/11/22/u.webp', HTML);
    expect(isAppError(r.error) && { status: r.error.status, code: r.error.code }).toEqual({ status: 415, code: 'unsupported_type' });
    expect(r.passed.length).toBe(0);
  });
});
