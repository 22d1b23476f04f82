import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { MeterStream } from './meter.js';

const sink = () => {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _e, done) {
      chunks.push(chunk);
      done();
    },
  });
  return { w, bytes: () => Buffer.concat(chunks) };
};

describe('MeterStream', () => {
  it('counts, hashes and passes bytes through unchanged', async () => {
    const data = [Buffer.from('hello '), Buffer.from('world'), Buffer.alloc(70_000, 7)];
    const meter = new MeterStream(1_000_000);
    const out = sink();
    await pipeline(Readable.from(data), meter, out.w);
    const all = Buffer.concat(data);
    expect(meter.bytes).toBe(all.length);
    expect(meter.sha256).toBe(createHash('sha256').update(all).digest('hex'));
    expect(out.bytes().equals(all)).toBe(true);
  });

  it('accepts exactly max bytes', async () => {
    const meter = new MeterStream(10);
    await pipeline(Readable.from([Buffer.alloc(4), Buffer.alloc(6)]), meter, sink().w);
    expect(meter.bytes).toBe(10);
  });

  it('fails with 413 the moment the count passes max, before passing the chunk on', async () => {
    const meter = new MeterStream(10);
    const out = sink();
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield Buffer.alloc(4);
      }
    }
    const err = await pipeline(source(), meter, out.w).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).status).toBe(413);
    expect((err as AppError).code).toBe('too_large');
    expect(out.bytes().length).toBeLessThanOrEqual(10);
    expect(pulled).toBeLessThan(10);
  });

  it('refuses to report a digest before the end', () => {
    expect(() => new MeterStream(1).sha256).toThrow();
  });
});
