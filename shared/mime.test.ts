import { describe, expect, it } from 'vitest';
import { mimeForExt, sniffImageType } from './mime.js';

const hex = (h: string) => Buffer.from(h.replace(/\s/g, ''), 'hex');

describe('sniffImageType', () => {
  it('recognises allowed images by their bytes', async () => {
    expect(await sniffImageType(hex('ffd8ffe000104a46494600010100000100010000'))).toEqual({ mime: 'image/jpeg', ext: 'jpg' });
    expect(await sniffImageType(hex('89504e470d0a1a0a0000000d49484452'))).toEqual({ mime: 'image/png', ext: 'png' });
    expect(await sniffImageType(Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'))).toEqual({ mime: 'image/gif', ext: 'gif' });
    const webp = Buffer.concat([Buffer.from('RIFF'), hex('24000000'), Buffer.from('WEBPVP8 ')]);
    expect(await sniffImageType(webp)).toEqual({ mime: 'image/webp', ext: 'webp' });
  });

  it('refuses SVG, HTML, XML, scripts and unknown bytes', async () => {
    for (const text of [
      '<svg xmlns="http://www.w3.org/2000/svg"></svg>',
      '<!DOCTYPE html><html></html>',
      '<?xml version="1.0"?><a/>',
      '#!/bin/sh\nrm -rf /',
      'hello',
    ]) {
      expect(await sniffImageType(Buffer.from(text))).toBeUndefined();
    }
    expect(await sniffImageType(hex('504b0304'))).toBeUndefined(); // zip
  });

  it('maps stored extensions back to types', () => {
    expect(mimeForExt('jpg')).toBe('image/jpeg');
    expect(mimeForExt('exe')).toBe('application/octet-stream');
  });
});
