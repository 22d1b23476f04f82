import http from 'node:http';
import net from 'node:net';

export interface RawResponse {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/**
 * A request whose body is written chunk by chunk with node:http, so a test sees an early answer
 * (413 while the client is still sending) the way a browser would, and a socket the server
 * closes on it does not hide the status it sent first.
 */
export function streamingRequest(opts: {
  url: string;
  headers: Record<string, string>;
  chunks: Iterable<Uint8Array>;
  method?: string;
}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(opts.url, { method: opts.method ?? 'POST', headers: opts.headers });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      const done = () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
      res.on('end', done);
      res.on('error', done);
      res.on('aborted', done);
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    (async () => {
      for (const chunk of opts.chunks) {
        if (answered || req.destroyed) break;
        if (!req.write(chunk))
          await new Promise<void>((r) => {
            req.once('drain', r);
            req.once('close', r);
          });
      }
      if (!req.destroyed) req.end();
    })().catch(() => undefined);
  });
}

/**
 * Sends a request head claiming `contentLength` bytes, then only `send` of them, then closes:
 * the client that lies about its Content-Length, or the phone that loses its connection.
 */
export function truncatedRequest(opts: {
  port: number;
  path: string;
  headers: Record<string, string>;
  contentLength: number;
  send: Uint8Array;
}): Promise<void> {
  return new Promise((resolve) => {
    const sock = net.connect(opts.port, '127.0.0.1', () => {
      const head = [
        `POST ${opts.path} HTTP/1.1`,
        'Host: 127.0.0.1',
        `Content-Length: ${opts.contentLength}`,
        ...Object.entries(opts.headers).map(([k, v]) => `${k}: ${v}`),
        '',
        '',
      ].join('\r\n');
      sock.write(head);
      sock.write(opts.send, () => setTimeout(() => sock.destroy(), 200));
    });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve());
  });
}
