import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UPLOAD_PATH } from '../../shared/api.js';
import { mimeForExt } from '../../shared/mime.js';

/** The repository root, from dist/scripts/operators/ or scripts/operators/ alike. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

/** What uploaded files may do when opened as a document: be an image, nothing else. */
export const UPLOAD_CSP = "default-src 'none'; img-src 'self'; sandbox";

/**
 * Content types of what we store, by the extension the node chose from the sniffed bytes — the
 * node's own table, so nginx and the node agree (Debian's mime.types lacks HEIC/HEIF), and
 * nothing here depends on the server's global types.
 */
const STORED_EXTS = ['jpg', 'jpeg', 'png', 'webp', 'avif', 'gif', 'tif', 'tiff', 'heic', 'heif'];
const TYPES = `        types { ${STORED_EXTS.map((e) => `${mimeForExt(e)} ${e};`).join(' ')} }`;

const STATIC_COMMON = [
  TYPES,
  '        default_type application/octet-stream;',
  '        disable_symlinks on from=$document_root;',
  // OPTIONS is let through here and answered by the `if` (preflight); anything but GET/HEAD is a 403.
  '        limit_except GET OPTIONS { deny all; }',
  '        if ($request_method = OPTIONS) { return 204; }',
  // A directory is never a file we serve: 404, not autoindex's 403.
  '        location ~ /$ { return 404; }',
  '        add_header X-Content-Type-Options nosniff always;',
  `        add_header Content-Security-Policy "${UPLOAD_CSP}" always;`,
  '        add_header Access-Control-Allow-Origin "*" always;',
  '        add_header Access-Control-Allow-Methods "GET, HEAD, OPTIONS";',
  '        add_header Access-Control-Allow-Headers "Range, If-None-Match, If-Modified-Since";',
  '        add_header Access-Control-Expose-Headers "Content-Length, Content-Range, Accept-Ranges, ETag";',
  '        add_header Access-Control-Max-Age 86400;',
].join('\n');

function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`template variable ${name} has no value`);
    return value;
  });
}

const template = (name: string) => readFileSync(path.join(repoRoot(), 'nginx', name), 'utf8');

/** Refuses anything that could break out of an nginx string or directive. */
function safe(label: string, value: string, pattern = /^[A-Za-z0-9._:/[\]-]+$/): string {
  if (!pattern.test(value)) throw new Error(`${label} ${JSON.stringify(value)} has characters nginx config cannot take`);
  return value;
}

export interface NodeSitePool {
  pool_id: string;
  /** `s3`: files in a bucket, its /uploads/ passed to the node (which redirects); default disk. */
  type?: 'disk' | 's3';
  /** Absolute pool directory (unused for an s3 pool). */
  dir: string;
  /** The pool's public_base_url: its path (maybe empty) prefixes `/uploads/`. */
  public_base_url: string;
}

export interface NodeSiteOptions {
  nodeId: string;
  /** `listen` argument: `80`, `127.0.0.1:8443`… */
  listen: string;
  serverName: string;
  /** host:port the node binary listens on. */
  nodeUpstream: string;
  /** nginx size, e.g. `5g` (the coordinator's FENNEC_MAX_FILE_BYTES plus multipart slack). */
  maxBody: string;
  /** A client that sends no body byte for this long is dropped (408); default `60s`. */
  bodyIdleTimeout?: string;
  pools: NodeSitePool[];
}

const nodeKey = (nodeId: string) => nodeId.replace(/[^A-Za-z0-9]/g, '_');

export function renderNodeSite(o: NodeSiteOptions): string {
  const prefixes = new Set<string>();
  const blocks = o.pools.map((p) => {
    const prefix = new URL(p.public_base_url).pathname.replace(/\/+$/, '');
    if (prefixes.has(prefix)) throw new Error(`two pools share the public path ${prefix || '/'}: nginx needs one public path per pool`);
    prefixes.add(prefix);
    if (p.type === 's3')
      return fill(template('fennec-node-s3-pool.conf.template'), {
        POOL_ID: safe('pool id', p.pool_id),
        PREFIX: prefix === '' ? '' : safe('public path', prefix),
        NODE_KEY: nodeKey(o.nodeId),
      });
    return fill(template('fennec-node-pool.conf.template'), {
      POOL_ID: safe('pool id', p.pool_id),
      POOL_DIR: safe('pool directory', path.resolve(p.dir)),
      PREFIX: prefix === '' ? '' : safe('public path', prefix),
      STATIC_COMMON,
    });
  });
  return fill(template('fennec-node.conf.template'), {
    NODE_ID: safe('node id', o.nodeId),
    NODE_KEY: nodeKey(o.nodeId),
    LISTEN: safe('listen', o.listen),
    SERVER_NAME: safe('server name', o.serverName),
    NODE_UPSTREAM: safe('node upstream', o.nodeUpstream),
    MAX_BODY: safe('max body', o.maxBody, /^\d+[kmgKMG]?$/),
    BODY_IDLE_TIMEOUT: safe('body idle timeout', o.bodyIdleTimeout ?? '60s', /^\d+(ms|s|m)?$/),
    POOL_LOCATIONS: blocks.join('\n'),
    UPLOAD_PATH: safe('upload path', UPLOAD_PATH),
  });
}

export function renderCoordinatorSite(o: { listen: string; serverName: string; upstream: string }): string {
  return fill(template('fennec-coordinator.conf.template'), {
    LISTEN: safe('listen', o.listen),
    SERVER_NAME: safe('server name', o.serverName),
    COORDINATOR_UPSTREAM: safe('coordinator upstream', o.upstream),
  });
}
