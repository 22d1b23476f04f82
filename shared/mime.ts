import { fileTypeFromBuffer } from 'file-type';

/** How many leading bytes the sniffer wants (file-type reads at most this many for our formats). */
export const SNIFF_BYTES = 4100;

export interface SniffedType {
  mime: string;
  ext: string;
}

/**
 * The image types a pool accepts, by what the bytes are, never by name or header. Everything
 * else — SVG, HTML, XML, scripts, archives, unknown — is refused (415): SVG and HTML served from
 * our origin would run script in the operator's domain.
 */
const ALLOWED: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/webp': 'webp',
  'image/avif': 'avif',
  'image/gif': 'gif',
  'image/tiff': 'tif',
  'image/heic': 'heic',
  'image/heif': 'heif',
};

export const ALLOWED_MIME_TYPES = Object.keys(ALLOWED);

/** Returns the allowed type of these leading bytes, or undefined when they are not an allowed image. */
export async function sniffImageType(head: Uint8Array): Promise<SniffedType | undefined> {
  const found = await fileTypeFromBuffer(head);
  if (!found) return undefined;
  const ext = ALLOWED[found.mime];
  return ext ? { mime: found.mime, ext } : undefined;
}

const EXT_MIME: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  heic: 'image/heic',
  heif: 'image/heif',
};

/** Content-Type for a stored file by its extension (which we chose from its sniffed type). */
export function mimeForExt(ext: string): string {
  return EXT_MIME[ext.toLowerCase()] ?? 'application/octet-stream';
}
