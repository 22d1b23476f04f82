import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { addressBucket } from './ip-address.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * The per-IP limit bucket a request counts against (node uploads, coordinator sessions): the
 * address it came from, IPv4 as is, native IPv6 by its /64 (ip-address.ts `addressBucket`).
 * Behind the nginx sites (same machine, so the peer is loopback) that is the `X-Real-IP` nginx
 * sets; otherwise the socket's peer. A client cannot pick its own bucket: the header counts only
 * from a loopback peer, and nginx overwrites whatever the client sent.
 */
export function clientAddress(incoming: IncomingMessage): string {
  const peer = incoming.socket.remoteAddress ?? 'unknown';
  if (!LOOPBACK.has(peer)) return addressBucket(peer);
  const real = incoming.headers['x-real-ip'];
  return addressBucket(typeof real === 'string' && isIP(real.trim()) ? real.trim() : peer);
}
