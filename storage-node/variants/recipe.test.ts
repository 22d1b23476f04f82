import { describe, expect, it } from 'vitest';
import { DEFAULT_RECIPE, planVariants, variantRecipeSchema, variantRelPath } from './recipe.js';

describe('variant recipe', () => {
  it('defaults to full WebP q85 and AVIF, 200/500 px in WebP, AVIF and the original format', () => {
    expect(DEFAULT_RECIPE).toMatchObject({
      webp: { quality: 85 },
      thumbnails: [
        { name: 'small', size: 200 },
        { name: 'medium', size: 500 },
      ],
    });
    const plan = planVariants(DEFAULT_RECIPE, 'jpg');
    expect(plan.map((v) => `${v.phase}:${v.suffix}.${v.ext}`)).toEqual([
      'thumbnails:_small.webp',
      'thumbnails:_small.avif',
      'thumbnails:_small.jpg',
      'thumbnails:_medium.webp',
      'thumbnails:_medium.avif',
      'thumbnails:_medium.jpg',
      'full:.webp',
      'full:.avif',
    ]);
  });

  it('names files {uuid}{suffix}.{ext} under the original day', () => {
    const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e';
    expect(variantRelPath(`original/2026/11/22/${uuid}.jpg`, uuid, { suffix: '_small', ext: 'avif' })).toBe(
      `variants/2026/11/22/${uuid}_small.avif`,
    );
    expect(variantRelPath(`original/2026/11/22/${uuid}.png`, uuid, { suffix: '', ext: 'webp' })).toBe(`variants/2026/11/22/${uuid}.webp`);
    expect(() => variantRelPath('tmp/x.jpg', uuid, { suffix: '', ext: 'webp' })).toThrow();
  });

  it('is configurable per pool: variants, sizes, quality, effort', () => {
    const r = variantRecipeSchema.parse({
      thumbnails: [{ name: 'tiny', size: 64 }],
      thumbnail_formats: ['webp'],
      full_formats: [],
      avif: { effort: 5 },
    });
    expect(r.avif).toEqual({ quality: 45, effort: 5 });
    expect(planVariants(r, 'jpg').map((v) => v.name)).toEqual(['tiny.webp']);
    expect(variantRecipeSchema.safeParse({ webp: { quality: 0 } }).success).toBe(false);
    // HEIC originals get no original-format thumbnail (the prebuilt libvips cannot write HEIC).
    expect(planVariants(DEFAULT_RECIPE, 'heic').some((v) => v.ext === 'heic')).toBe(false);
  });
});
