import { randomBytes } from 'node:crypto';

/**
 * Bytes that sniff as the given type followed by random filler. Enough for the upload path,
 * which only sniffs; tests of image processing use real images made with sharp.
 */
export function fakeJpeg(size: number): Buffer {
  const head = Buffer.from([
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
  ]);
  return Buffer.concat([head, randomBytes(Math.max(0, size - head.length))]).subarray(0, size);
}

export function fakePng(size: number): Buffer {
  // Signature, a 1×1 IHDR, then one IDAT chunk holding the filler: sniffers walk the chunks.
  const sig = Buffer.from('89504e470d0a1a0a', 'hex');
  const ihdr = Buffer.from('0000000d494844520000000100000001080600000000000000', 'hex');
  const idatLen = Math.max(0, size - sig.length - ihdr.length - 8);
  const idatHead = Buffer.alloc(8);
  idatHead.writeUInt32BE(idatLen, 0);
  idatHead.write('IDAT', 4, 'latin1');
  return Buffer.concat([sig, ihdr, idatHead, randomBytes(idatLen)]).subarray(0, size);
}

export const SVG = Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
export const HTML = Buffer.from('<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>');

/** An ISO-BMFF `ftyp` box with this major brand: how AVIF and HEIC/HEIF files begin. */
function ftyp(brand: string): Buffer {
  const box = Buffer.alloc(24);
  box.writeUInt32BE(24, 0);
  box.write('ftyp', 4, 'latin1');
  box.write(brand, 8, 'latin1');
  box.write(brand, 16, 'latin1');
  box.write('mif1', 20, 'latin1');
  return box;
}

const IMAGE_HEADS: Record<string, () => Buffer> = {
  jpg: () => fakeJpeg(20),
  jpeg: () => fakeJpeg(20),
  png: () => fakePng(41),
  webp: () => Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WEBPVP8 ')]),
  gif: () => Buffer.from('GIF89a'),
  tif: () => Buffer.from([0x49, 0x49, 0x2a, 0x00, 0x08, 0x00, 0x00, 0x00]),
  tiff: () => Buffer.from([0x49, 0x49, 0x2a, 0x00, 0x08, 0x00, 0x00, 0x00]),
  avif: () => ftyp('avif'),
  heic: () => ftyp('heic'),
  heif: () => ftyp('mif1'),
};

/**
 * `filler` with its first bytes replaced by a head that sniffs as the image type of the pool
 * file extension `ext` (shared/mime.ts): same length, and as deterministic as the filler. For a
 * receiver that sniffs the head of what it stores (a replicate PUT) without decoding it.
 */
export function asImage(ext: string, filler: Buffer): Buffer {
  const headFor = IMAGE_HEADS[ext];
  if (!headFor) throw new Error(`no image head for .${ext}`);
  const out = Buffer.from(filler);
  const head = headFor();
  if (ext === 'png') head.writeUInt32BE(Math.max(0, out.length - 41), 33); // the IDAT holds the rest
  head.copy(out, 0, 0, Math.min(head.length, out.length));
  return out;
}
