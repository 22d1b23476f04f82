import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../shared/errors.js';
import { TMP_DIR } from '../../shared/paths.js';
import { streamingRequest } from '../../test/support/raw-http.js';
import { type IngestResult, ingestToTmp } from './ingest.js';
import { lingerThenClose } from './linger.js';
import { ingestMultipart, MULTIPART_OVERHEAD_BYTES } from './multipart.js';

/** The token's `max` in these tests: a small photo. */
const MAX = 20_000;
const KiB = 1024;
const JPEG_HEAD = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, ...Buffer.from('JFIF\0'), 1, 1, 0, 0, 1, 0, 1, 0, 0]);
const jpeg = (size: number) => Buffer.concat([JPEG_HEAD, Buffer.alloc(size - JPEG_HEAD.length, 0xab)]);
const BOUNDARY = 'fennec-test-boundary';

let root: string;
let server: http.Server;
let port: number;
/** Temp files the handler kept (a 201): the test removes them, as finishUpload would rename them. */
const kept: string[] = [];

/** The upload route's multipart half, with a real socket: ingestMultipart into ingestToTmp. */
beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'multipart-'));
  mkdirSync(path.join(root, TMP_DIR));
  server = http.createServer((req, res) => {
    const signal = new AbortController().signal;
    ingestMultipart(req, (file) => ingestToTmp({ source: file, poolPath: root, uuid: randomUUID(), max: MAX, signal }), {
      maxFileBytes: MAX,
      discard: (r: IngestResult) => fs.rm(r.tmpPath, { force: true }),
    }).then(
      (r) => {
        kept.push(r.tmpPath);
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ size: r.size }));
      },
      (err: unknown) => {
        const status = isAppError(err) ? err.status : 500;
        if (!req.readableEnded) lingerThenClose(req);
        res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
        res.end(JSON.stringify({ error: isAppError(err) ? err.code : String(err) }));
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
});

type Part = { name: string; filename?: string; data: Buffer | { repeat: Buffer; times: number } };

/** A multipart body, generated lazily so 64 MiB of junk never sits in the test's memory either. */
function* form(parts: Part[]): Generator<Buffer> {
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}`;
    // busboy takes an octet-stream part for a file: only file parts say so.
    const type = p.filename ? 'content-type: application/octet-stream\r\n' : '';
    yield Buffer.from(`--${BOUNDARY}\r\ncontent-disposition: ${disposition}\r\n${type}\r\n`);
    if (Buffer.isBuffer(p.data)) yield p.data;
    else for (let i = 0; i < p.data.times; i++) yield p.data.repeat;
    yield Buffer.from('\r\n');
  }
  yield Buffer.from(`--${BOUNDARY}--\r\n`);
}

/** POSTs a chunked body (no Content-Length, so only metering can stop it); stops sending once answered. */
async function post(chunks: Iterable<Buffer>): Promise<{ status: number; error?: string }> {
  const res = await streamingRequest({
    url: `http://127.0.0.1:${port}/`,
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'transfer-encoding': 'chunked' },
    chunks,
  });
  return { status: res.status, error: (JSON.parse(res.body) as { error?: string }).error };
}

/** Nothing of a refused upload stays in tmp/ (cleanup may be finishing as the answer arrives). */
async function expectTmpEmpty(): Promise<void> {
  const tmp = () => readdirSync(path.join(root, TMP_DIR)).filter((f) => !kept.includes(path.join(root, TMP_DIR, f)));
  for (let i = 0; i < 20 && tmp().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  expect(tmp()).toEqual([]);
}

const junk = (bytes: number) => ({ repeat: Buffer.alloc(64 * KiB, 0x6a), times: Math.ceil(bytes / (64 * KiB)) });

describe('ingestMultipart meters the whole body (issue 17, item 6)', () => {
  it('201 for a file with a few small fields', async () => {
    const r = await post(
      form([
        { name: 'title', data: Buffer.from('a photo') },
        { name: 'file', filename: 'a.jpg', data: jpeg(MAX) },
      ]),
    );
    expect(r).toEqual({ status: 201 });
  });

  it('413 for megabytes of other file parts before the file; nothing left in tmp', async () => {
    const r = await post(
      form([
        { name: 'junk', filename: 'j.bin', data: junk(64 * 1024 * KiB) },
        { name: 'file', filename: 'a.jpg', data: jpeg(1000) },
      ]),
    );
    expect(r).toEqual({ status: 413, error: 'too_large' });
    await expectTmpEmpty();
  });

  it('413 for junk after the file was already written; its temp file is removed', async () => {
    const r = await post(
      form([
        { name: 'file', filename: 'a.jpg', data: jpeg(1000) },
        { name: 'junk', filename: 'j.bin', data: junk(4 * 1024 * KiB) },
      ]),
    );
    expect(r).toEqual({ status: 413, error: 'too_large' });
    await expectTmpEmpty();
  });

  it('413 for a large text field, many small fields or many small files, all within the overhead allowance in bytes', async () => {
    const file: Part = { name: 'file', filename: 'a.jpg', data: jpeg(1000) };
    const note: Part = { name: 'note', data: { repeat: Buffer.alloc(1024, 0x6e), times: 32 } };
    expect(await post(form([note, file]))).toEqual({ status: 413, error: 'too_large' });
    const fields = Array.from({ length: 200 }, (_, i): Part => ({ name: `f${i}`, data: Buffer.from('x') }));
    expect(await post(form([...fields, file]))).toEqual({ status: 413, error: 'too_large' });
    const files = Array.from({ length: 10 }, (_, i): Part => ({ name: `f${i}`, filename: `${i}.bin`, data: Buffer.from('x') }));
    expect(await post(form([file, ...files]))).toEqual({ status: 413, error: 'too_large' });
    await expectTmpEmpty();
  });

  it('the byte allowance is the file max plus MULTIPART_OVERHEAD_BYTES: a body just past it is refused', async () => {
    const r = await post(
      form([
        { name: 'junk', filename: 'j.bin', data: Buffer.alloc(MAX + MULTIPART_OVERHEAD_BYTES, 0x6a) },
        { name: 'file', filename: 'a.jpg', data: jpeg(1000) },
      ]),
    );
    expect(r).toEqual({ status: 413, error: 'too_large' });
    await expectTmpEmpty();
  });
});
