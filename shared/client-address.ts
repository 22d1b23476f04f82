import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * The address a request came from, for per-IP limits (node uploads, coordinator sessions). Behind
 * the nginx sites (same machine, so the peer is loopback) that is the `X-Real-IP` nginx sets;
 * otherwise the socket's peer. A
 * client cannot pick its own bucket: the header counts only from a loopback peer, and nginx
 * overwrites whatever the client sent.
 */
export function clientAddress(incoming: IncomingMessage): string {
  const peer = incoming.socket.remoteAddress ?? 'unknown';
  if (!LOOPBACK.has(peer)) return peer;
  const real = incoming.headers['x-real-ip'];
  return typeof real === 'string' && isIP(real.trim()) ? real.trim() : peer;
}
