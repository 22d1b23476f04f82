import sharp from 'sharp';

/**
 * A structured test photo made with sharp: gradients, shapes and noise (so encoders have real
 * work and PSNR means something), with EXIF orientation and GPS when asked.
 */
export async function makePhoto(opts: {
  width: number;
  height: number;
  format?: 'jpeg' | 'png' | 'webp' | 'gif';
  orientation?: number;
  gps?: boolean;
  seed?: number;
}): Promise<Buffer> {
  const { width, height } = opts;
  const seed = opts.seed ?? 1;
  const shapes = Array.from({ length: 12 }, (_, i) => {
    const x = ((i * 7919 * seed) % width) | 0;
    const y = ((i * 104729 * seed) % height) | 0;
    const r = Math.max(8, Math.min(width, height) / (6 + i));
    const hue = (i * 37 + seed * 11) % 360;
    return `<circle cx="${x}" cy="${y}" r="${r}" fill="hsl(${hue},70%,50%)" fill-opacity="0.7"/>`;
  }).join('');
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
      <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
        <stop offset="0" stop-color="#203060"/><stop offset="0.5" stop-color="#c08040"/><stop offset="1" stop-color="#40a080"/>
      </linearGradient></defs>
      <rect width="100%" height="100%" fill="url(#g)"/>${shapes}
      <rect x="${width / 10}" y="${height / 10}" width="${width / 5}" height="${height / 8}" fill="#ffffff"/>
    </svg>`,
  );
  const noise = await sharp({
    create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 18 } },
  })
    .png()
    .toBuffer();
  let img = sharp(svg).composite([{ input: noise, blend: 'soft-light' }]);
  const exif: Record<string, Record<string, string>> = { IFD0: { Make: 'Fennec', Model: 'TestCam' } };
  if (opts.gps) exif.IFD3 = { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 24/1', GPSLongitudeRef: 'E', GPSLongitude: '2/1 21/1 7/1' };
  img = img.withMetadata({ orientation: opts.orientation ?? 1, exif });
  switch (opts.format ?? 'jpeg') {
    case 'png':
      return img.png().toBuffer();
    case 'webp':
      return img.webp({ quality: 90 }).toBuffer();
    case 'gif':
      return img.gif().toBuffer();
    default:
      return img.jpeg({ quality: 92 }).toBuffer();
  }
}

/** A JPEG whose header claims width × height (a decompression bomb's header, a few KB of file). */
export async function bombJpeg(width = 50_000, height = 50_000): Promise<Buffer> {
  const small = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#336699' } })
    .jpeg()
    .toBuffer();
  const buf = Buffer.from(small);
  for (let i = 2; i < buf.length - 9; i++) {
    if (buf[i] === 0xff && buf[i + 1]! >= 0xc0 && buf[i + 1]! <= 0xc2) {
      buf.writeUInt16BE(height, i + 5);
      buf.writeUInt16BE(width, i + 7);
      return buf;
    }
  }
  throw new Error('no SOF marker');
}
