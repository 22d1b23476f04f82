/**
 * The baseline for ingest figures: a bare Node `http` server that does the least a durable
 * upload needs — pipe the body through SHA-256 into a temp file, fsync it, rename it, fsync the
 * directory — and nothing else (no token, no sniffing, no database). It runs as its own process,
 * as the node does, so both compete with the load generator in the same way.
 * Usage: node baseline-server.js PORT DIR
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const [portArg, dir] = process.argv.slice(2);
if (!portArg || !dir) {
  console.error('usage: baseline-server PORT DIR');
  process.exit(2);
}
await mkdir(path.join(dir, 'tmp'), { recursive: true });
await mkdir(path.join(dir, 'files'), { recursive: true });

async function fsyncDir(d: string): Promise<void> {
  const fh = await open(d, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const server = http.createServer((req, res) => {
  const id = randomUUID();
  const tmp = path.join(dir, 'tmp', id);
  const hash = createHash('sha256');
  let size = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  pipeline(req, hasher, createWriteStream(tmp, { flush: true }))
    .then(async () => {
      const final = path.join(dir, 'files', id);
      await rename(tmp, final);
      await fsyncDir(path.join(dir, 'files'));
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ sha256: hash.digest('hex'), size }));
      // The bench only needs the figure, not the files: keep the disk from filling up.
      await unlink(final);
    })
    .catch(async (err: Error) => {
      await unlink(tmp).catch(() => undefined);
      if (!res.headersSent) res.writeHead(500).end(err.message);
    });
});
server.requestTimeout = 0;
server.listen(Number(portArg), '127.0.0.1', () => console.log('listening'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
