import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { errors } from '../../shared/errors.js';

/** The repository root, from dist/coordinator/routes/ or coordinator/routes/ alike (`npm run build` is tsc only). */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('fennec: package.json not found above the coordinator');
    dir = up;
  }
  return dir;
}

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};
const FILE = /^[a-z0-9-]+\.(html|js|css|svg)$/;

/**
 * The pages need no inline script or style, so the policy is strict. Uploads go to the nodes and
 * thumbnails come from them, which can be any host: connect-src and img-src allow http(s).
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob: http: https:",
  "connect-src 'self' http: https:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Static pages from `coordinator/{dir}/` under `/{mount}/`: the admin page and the demo upload
 * page. Plain files (no build step); read once per process and kept. Their API calls carry the
 * key the person types in, so serving the files themselves needs no key.
 */
export function staticPages(pages: { mount: string; dir: string; vendor?: Record<string, string> }[]): Hono {
  const app = new Hono();
  const root = repoRoot();
  const cache = new Map<string, Buffer>();
  /** A file under the repository root, by a path built in this module (never from the request alone). */
  const readCached = (rel: string): Buffer | undefined => {
    let body = cache.get(rel);
    if (!body) {
      try {
        body = readFileSync(path.join(root, rel));
      } catch {
        return undefined;
      }
      cache.set(rel, body);
    }
    return body;
  };

  for (const { mount, dir, vendor = {} } of pages) {
    app.get(`/${mount}`, (c) => c.redirect(`/${mount}/`, 301));
    app.get(`/${mount}/:file{[^/]*}`, (c) => {
      const file = c.req.param('file') || 'index.html';
      const vendored = Object.hasOwn(vendor, file) ? vendor[file] : undefined;
      const ext = vendored ? 'js' : FILE.exec(file)?.[1];
      // A vendored file is a library's browser bundle from node_modules, mapped in code.
      const body = vendored ? readCached(vendored) : ext ? readCached(path.join('coordinator', dir, file)) : undefined;
      if (!ext || !body) throw errors.notFound('not_found', 'no such page');
      return c.body(new Uint8Array(body), 200, {
        'content-type': TYPES[ext]!,
        'cache-control': 'no-cache',
        'content-security-policy': CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'x-frame-options': 'DENY',
      });
    });
  }
  return app;
}
