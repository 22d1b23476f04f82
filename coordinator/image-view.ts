import type { VariantFileInfo } from '../shared/api.js';
import { publicUrl } from '../shared/paths.js';
import { signUrl, type UrlSigningKey } from '../shared/signed-url.js';
import { type BackupRow, backupView } from './db/backups.js';
import { type CopyRow, copyView } from './db/copies.js';
import type { ObjectRow } from './db/objects.js';

export function variantFiles(o: ObjectRow): VariantFileInfo[] {
  return JSON.parse(o.variants) as VariantFileInfo[];
}

/** How private files' URLs are signed: the coordinator's current key, valid for `ttlSeconds`. */
export interface UrlSigner extends UrlSigningKey {
  ttlSeconds: number;
}

/**
 * The URL of one file of an object: the plain public URL, or for a private object a signed,
 * expiring one (the node refuses `private/…` without a valid signature, and the public path
 * of a private file does not exist).
 */
export function fileUrl(o: Pick<ObjectRow, 'visibility' | 'public_base_url'>, rel: string, signer: UrlSigner, now = Date.now()): string {
  const url = publicUrl(o.public_base_url, rel);
  return o.visibility === 'private' ? signUrl(url, signer, { ttlSeconds: signer.ttlSeconds, now }) : url;
}

/**
 * The public shape of an image: `GET /api/v1/images/{uuid}` and every webhook's `data`.
 * `copies` are the object's rows in the copies ledger (the primary among them); `backup` its row
 * in the backups ledger, shown without bucket or key (absent = no backup).
 */
export function imageView(o: ObjectRow, signer: UrlSigner, copies: readonly CopyRow[], backup?: BackupRow) {
  const variants = variantFiles(o);
  const now = Date.now();
  const url = (rel: string) => fileUrl(o, rel, signer, now);
  return {
    image_uuid: o.image_uuid,
    status: o.status,
    thumbnails_ready: o.thumbnails_ready === 1,
    failure_reason: o.failure_reason,
    size: o.size,
    sha256: o.sha256,
    mime: o.mime,
    format: o.format,
    user_id: o.user_id,
    pool_id: o.pool_id,
    node_id: o.node_id,
    visibility: o.visibility,
    created_at: new Date(o.created_at).toISOString(),
    width: o.width,
    height: o.height,
    copies: copies.map(copyView),
    backup: backupView(backup),
    urls: {
      original: url(o.rel_path),
      variants: Object.fromEntries(variants.map((v) => [v.name, url(v.rel_path)])),
    },
    /** When the signed URLs of a private image stop working (null for public images). */
    urls_expire_at: o.visibility === 'private' ? new Date((Math.floor(now / 1000) + signer.ttlSeconds) * 1000).toISOString() : null,
    variants: variants.map((v) => ({ name: v.name, width: v.width, height: v.height, bytes: v.bytes, mime: v.mime })),
  };
}
export type ImageView = ReturnType<typeof imageView>;
