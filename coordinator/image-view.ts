import type { VariantFileInfo } from '../shared/api.js';
import { publicUrl } from '../shared/paths.js';
import type { ObjectRow } from './db/objects.js';

export function variantFiles(o: ObjectRow): VariantFileInfo[] {
  return JSON.parse(o.variants) as VariantFileInfo[];
}

/** The public shape of an image: `GET /api/v1/images/{uuid}` and every webhook's `data`. */
export function imageView(o: ObjectRow) {
  const variants = variantFiles(o);
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
    copies: [{ node_id: o.node_id, pool_id: o.pool_id, state: o.state }],
    urls: {
      original: publicUrl(o.public_base_url, o.rel_path),
      variants: Object.fromEntries(variants.map((v) => [v.name, publicUrl(o.public_base_url, v.rel_path)])),
    },
    variants: variants.map((v) => ({ name: v.name, width: v.width, height: v.height, bytes: v.bytes, mime: v.mime })),
  };
}
export type ImageView = ReturnType<typeof imageView>;
