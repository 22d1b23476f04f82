import { randomBytes } from 'node:crypto';

/**
 * Bytes that sniff as the given type followed by random filler. Enough for the upload path,
 * which only sniffs; tests of image processing use real images made with sharp.
 */
export function fakeJpeg(size: number): Buffer {
  const head = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]);
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
