import { LEGACY_UPLOAD_PATH, TUS_PATH, UPLOAD_PATH } from '../shared/api.js';
import type { NodeRow } from './db/nodes.js';

/**
 * A node's base URL for peer PUTs (`http://host:port`): its upload URL without the upload route
 * (the public one, or the old one nodes registered before it keep), else its public URL.
 */
export function nodeBaseUrl(node: Pick<NodeRow, 'upload_api_url' | 'public_url'>): string {
  const upload = node.upload_api_url.replace(/\/+$/, '');
  const suffix = [UPLOAD_PATH, LEGACY_UPLOAD_PATH].find((p) => upload.endsWith(p));
  if (suffix) return upload.slice(0, -suffix.length);
  return (node.public_url ?? new URL(upload).origin).replace(/\/+$/, '');
}

/** Where a session sends its client: always the node's registered URLs, never its heartbeat's. */
export interface NodeUploadUrls {
  upload_url: string;
  tus_url: string;
}

/**
 * The upload URLs of a node as the admin registered it. A heartbeat is written to Redis, which
 * is no trust boundary: taking these from it would let a Redis writer send clients, their
 * bearer tokens and files, to any host.
 */
export function nodeUploadUrls(node: Pick<NodeRow, 'upload_api_url' | 'public_url'>): NodeUploadUrls {
  return { upload_url: node.upload_api_url, tus_url: `${nodeBaseUrl(node)}${TUS_PATH}` };
}
