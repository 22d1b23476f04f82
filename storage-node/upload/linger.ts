import type { IncomingMessage } from 'node:http';

/**
 * Arranges the end of a connection whose request body was not read to the end (an early 401,
 * 413, 415). Node answers `Connection: close` by destroying the socket right after the
 * response; closing with unread bytes makes the kernel send RST, which can wipe the error
 * response before the client reads it. So: half-close (FIN after the response), keep reading
 * and discarding what the client still sends, and destroy the socket after `maxMs` at the
 * latest — never drain a large body forever.
 */
export function lingerThenClose(incoming: IncomingMessage, maxMs = 2000): void {
  const socket = incoming.socket;
  if (!socket || socket.destroyed || incoming.readableEnded) return;
  const timer = setTimeout(() => socket.destroy(), maxMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.once('end', () => socket.destroy());
  socket.destroySoon = function destroySoonAfterLinger(this: typeof socket) {
    if (this.writable) this.end();
  };
  incoming.on('data', () => undefined);
  incoming.resume();
}
