import { z } from 'zod';

/**
 * Which variants a pool makes and how (README "Variants and jobs"). Defaults: full-size WebP q85 and
 * AVIF, 200 px (`_small`) and 500 px (`_medium`) thumbnails in WebP, AVIF and the original format.
 *
 * AVIF effort 2 / quality 45 instead of sharp's 4 / 50: measured on a 12 MP photo it is ~7× faster
 * (3.4 s vs 25 CPU-s) for a smaller file and ~0.2 dB lower PSNR (issue 4, README "Variants").
 */
export const variantRecipeSchema = z
  .object({
    /** Thumbnail sizes: the longest edge in pixels, never enlarged. */
    thumbnails: z.array(z.object({ name: z.string().regex(/^[a-z][a-z0-9]*$/), size: z.number().int().min(16).max(4096) })).default([
      { name: 'small', size: 200 },
      { name: 'medium', size: 500 },
    ]),
    thumbnail_formats: z.array(z.enum(['webp', 'avif', 'original'])).default(['webp', 'avif', 'original']),
    full_formats: z.array(z.enum(['webp', 'avif'])).default(['webp', 'avif']),
    webp: z
      .object({ quality: z.number().int().min(1).max(100).default(85), effort: z.number().int().min(0).max(6).default(4) })
      .prefault({}),
    avif: z
      .object({ quality: z.number().int().min(1).max(100).default(45), effort: z.number().int().min(0).max(9).default(2) })
      .prefault({}),
    /**
     * AVIF for thumbnails: at 200/500 px sharp's defaults cost little, and effort 2 loses
     * ~1.5–2.8 dB there at the same bytes (bench `variants`), so thumbnails keep effort 4.
     */
    thumbnail_avif: z
      .object({ quality: z.number().int().min(1).max(100).default(50), effort: z.number().int().min(0).max(9).default(4) })
      .prefault({}),
    /** Quality of thumbnails in the original's lossy format (JPEG). */
    original_quality: z.number().int().min(1).max(100).default(90),
  })
  .prefault({});
export type VariantRecipe = z.infer<typeof variantRecipeSchema>;

export const DEFAULT_RECIPE: VariantRecipe = variantRecipeSchema.parse(undefined);

export type OutputFormat = 'webp' | 'avif' | 'jpeg' | 'png' | 'gif' | 'tiff';

/** One file a job writes. `phase` orders the work: thumbnails are reported before full-size. */
export interface PlannedVariant {
  /** API name, e.g. `small.webp`, `full.avif` (GET /i/{uuid}/{name}). */
  name: string;
  /** File name suffix after the uuid: `_small`, or '' for full size. */
  suffix: string;
  ext: string;
  format: OutputFormat;
  /** Longest edge; undefined = full size. */
  size: number | undefined;
  phase: 'thumbnails' | 'full';
}

/** Output format for "the original format" by stored extension; undefined when we cannot write it. */
const ORIGINAL_FORMATS: Record<string, { format: OutputFormat; ext: string }> = {
  jpg: { format: 'jpeg', ext: 'jpg' },
  png: { format: 'png', ext: 'png' },
  webp: { format: 'webp', ext: 'webp' },
  avif: { format: 'avif', ext: 'avif' },
  gif: { format: 'gif', ext: 'gif' },
  tif: { format: 'tiff', ext: 'tif' },
};

/**
 * The files to make for an original with this extension, thumbnails first. A thumbnail in the
 * original format that is already WebP or AVIF is the same file as the WebP/AVIF one: made once.
 */
export function planVariants(recipe: VariantRecipe, originalExt: string): PlannedVariant[] {
  const out: PlannedVariant[] = [];
  const seen = new Set<string>();
  const push = (v: PlannedVariant) => {
    if (seen.has(v.suffix + v.ext)) return;
    seen.add(v.suffix + v.ext);
    out.push(v);
  };
  for (const t of recipe.thumbnails) {
    for (const f of recipe.thumbnail_formats) {
      const target = f === 'original' ? ORIGINAL_FORMATS[originalExt] : { format: f, ext: f };
      if (!target) continue;
      push({
        name: `${t.name}.${target.ext}`,
        suffix: `_${t.name}`,
        ext: target.ext,
        format: target.format,
        size: t.size,
        phase: 'thumbnails',
      });
    }
  }
  for (const f of recipe.full_formats) push({ name: `full.${f}`, suffix: '', ext: f, format: f, size: undefined, phase: 'full' });
  return out;
}

/**
 * `original/YYYY/MM/DD/{uuid}.jpg` → `variants/YYYY/MM/DD/{uuid}{suffix}.{ext}`: variants file under
 * the original's day; a private original's variants stay private (`private/original/…` → `private/variants/…`).
 */
export function variantRelPath(originalRelPath: string, uuid: string, v: Pick<PlannedVariant, 'suffix' | 'ext'>): string {
  const m = /^((?:private\/)?)original\/(\d{4}\/\d{2}\/\d{2})\//.exec(originalRelPath);
  if (!m) throw new Error(`not an original path: ${originalRelPath}`);
  return `${m[1]}variants/${m[2]}/${uuid}${v.suffix}.${v.ext}`;
}
