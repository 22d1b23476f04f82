import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { type Dispatcher, Pool, request } from 'undici';
import type { SessionResponse } from '../../shared/api.js';

/** Reads the whole response body and fails on an unexpected status, with the body in the message. */
export async function expectStatus(res: Dispatcher.ResponseData, want: number[]): Promise<any> {
  const text = await res.body.text();
  if (!want.includes(res.statusCode)) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : undefined;
}

/** The app backend's half of an upload: ask the coordinator for a session. */
export async function createSession(
  coordinator: Dispatcher,
  appKey: string,
  body: { user_id: string; file_size: number },
): Promise<SessionResponse> {
  const res = await coordinator.request({
    method: 'POST',
    path: '/api/v1/upload/sessions',
    headers: { authorization: `Bearer ${appKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await expectStatus(res, [201])) as SessionResponse;
}

/** A multipart/form-data body around a file on disk, streamed, with its exact length. */
export function multipartFromFile(file: string, size: number): { body: Readable; contentType: string; length: number } {
  const boundary = `----fennec-bench-${Date.now().toString(16)}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const body = Readable.from(
    (async function* () {
      yield head;
      yield* createReadStream(file, { highWaterMark: 1024 * 1024 });
      yield tail;
    })(),
  );
  return { body, contentType: `multipart/form-data; boundary=${boundary}`, length: head.length + size + tail.length };
}

/** Uploads a file on disk to a URL with a streamed body; returns the parsed 201 body. */
export async function uploadFile(opts: {
  url: string;
  method?: 'POST' | 'PUT';
  token?: string;
  file: string;
  size: number;
  multipart?: boolean;
  dispatcher?: Dispatcher;
}): Promise<any> {
  const auth: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  const { body, contentType, length } = opts.multipart
    ? multipartFromFile(opts.file, opts.size)
    : { body: createReadStream(opts.file, { highWaterMark: 1024 * 1024 }), contentType: 'image/jpeg', length: opts.size };
  const res = await request(opts.url, {
    method: opts.method ?? 'POST',
    headers: { ...auth, 'content-type': contentType, 'content-length': String(length) },
    body,
    dispatcher: opts.dispatcher,
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  return expectStatus(res, [201]);
}

/** Uploads an in-memory buffer (small-file figures); returns the parsed 201 body. */
export async function uploadBuffer(dispatcher: Dispatcher, path: string, data: Buffer, token?: string): Promise<any> {
  const res = await dispatcher.request({
    method: 'POST',
    path,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'image/jpeg' },
    body: data,
  });
  return expectStatus(res, [201]);
}

export function pool(url: string, connections: number): Pool {
  return new Pool(url, { connections, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
}
