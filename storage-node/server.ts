import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';

/**
 * The node's HTTP server with upload-aware timeouts: no total request deadline (Node's default
 * 300 s would cut a slow 1 GB phone upload), but a socket that sends nothing for `idleTimeoutMs`
 * is destroyed — the upload's stream then fails and its temp file is removed.
 */
export async function listen(
  app: Pick<Hono<any>, 'fetch'>,
  opts: { host: string; port: number; idleTimeoutMs: number },
): Promise<{ server: Server; port: number }> {
  const server = createAdaptorServer({
    fetch: app.fetch,
    hostname: opts.host,
    serverOptions: {
      requestTimeout: 0,
      headersTimeout: 60_000,
      keepAliveTimeout: 5_000,
    },
  }) as Server;
  // No 'timeout' listener: Node then destroys the idle socket itself.
  server.setTimeout(opts.idleTimeoutMs);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/** Stops accepting; idle keep-alive connections are closed, in-flight requests continue. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
