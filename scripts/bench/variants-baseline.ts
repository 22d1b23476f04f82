import sharp, { type Sharp } from 'sharp';

/** The default variant set (storage-node/variants/recipe.ts), as the naive baseline and the figure both name it. */
export interface BaselineVariant {
  name: string;
  size: number | undefined;
  format: 'webp' | 'avif' | 'jpeg';
}

export const DEFAULT_SET: BaselineVariant[] = [
  ...[
    ['small', 200],
    ['medium', 500],
  ].flatMap(([name, size]) =>
    (['webp', 'avif', 'jpeg'] as const).map((format) => ({
      name: `${name}.${format === 'jpeg' ? 'jpg' : format}`,
      size: size as number,
      format,
    })),
  ),
  { name: 'full.webp', size: undefined, format: 'webp' },
  { name: 'full.avif', size: undefined, format: 'avif' },
];

/**
 * The naive way: a fresh decode of the original per variant, sharp's encoder defaults (AVIF
 * quality 50 / effort 4) except where the default recipe fixes the quality (WebP q85, JPEG thumbnails
 * q90), one variant after the other.
 */
export async function naiveVariants(file: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const v of DEFAULT_SET) {
    let img: Sharp = sharp(file).rotate();
    if (v.size) img = img.resize(v.size, v.size, { fit: 'inside', withoutEnlargement: true });
    img = v.format === 'webp' ? img.webp({ quality: 85 }) : v.format === 'avif' ? img.avif() : img.jpeg({ quality: 90 });
    out.set(v.name, await img.toBuffer());
  }
  return out;
}

/**
 * PSNR (dB) of a variant against the source scaled to the variant's size with a high-quality
 * kernel: the same reference for the baseline's and Fennec's file, so the difference is the
 * encoder's and the resize path's.
 */
export async function psnr(source: string, variant: Buffer): Promise<number> {
  const v = await sharp(variant).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const ref = await sharp(source)
    .rotate()
    .resize(v.info.width, v.info.height, { fit: 'fill', kernel: 'lanczos3' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer();
  let se = 0;
  const n = Math.min(ref.length, v.data.length);
  for (let i = 0; i < n; i++) {
    const d = ref[i]! - v.data[i]!;
    se += d * d;
  }
  const mse = se / n;
  return mse === 0 ? 99 : 10 * Math.log10((255 * 255) / mse);
}
