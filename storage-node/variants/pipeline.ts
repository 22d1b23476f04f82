import { randomUUID } from 'node:crypto';
import path from 'node:path';
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import { AppError } from '../../shared/errors.js';
import { mimeForExt } from '../../shared/mime.js';
import { DiskStore } from '../pool-store/disk-store.js';
import { inParallel } from './in-parallel.js';
import { type PlannedVariant, type VariantRecipe, variantRelPath } from './recipe.js';

/** One variant file as recorded on the node and reported to the coordinator. */
export interface VariantFile {
  name: string;
  rel_path: string;
  width: number;
  height: number;
  bytes: number;
  mime: string;
}

/** The source as displayed (orientation applied). */
export interface SourceInfo {
  width: number;
  height: number;
  format: string;
  /** Animated GIF/WebP: variants hold the first frame only (README "Variants"). */
  animated: boolean;
}

export interface PipelineJob {
  uuid: string;
  poolPath: string;
  /** `original/YYYY/MM/DD/{uuid}.{ext}` */
  originalRelPath: string;
  recipe: VariantRecipe;
  /** Pixel-count cap (width × height) checked on the header before anything is decoded. */
  maxPixels: number;
  /** How many outputs are encoded at once (the node's CPU budget for variant work). */
  parallel: number;
  /** Told how long each output took (for /metrics). */
  onWritten?: (variant: string, seconds: number) => void;
}

const DECODABLE = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif']);

/** The image itself is the problem (bomb, corrupt, unsupported): retrying cannot help. */
export function imageRejected(message: string, cause?: unknown): AppError {
  return new AppError({ code: 'image_rejected', status: 422, message, retryable: false, cause });
}

function srcPath(job: PipelineJob): string {
  return path.join(job.poolPath, ...job.originalRelPath.split('/'));
}

/** sharp errors about the input are the image's fault; I/O errors (ENOSPC, EIO) are not and retry. */
function asDecodeError(err: unknown): unknown {
  if (err instanceof AppError || (err as NodeJS.ErrnoException)?.code) return err;
  return imageRejected(`cannot decode image: ${(err as Error).message}`, err);
}

function input(job: PipelineJob): Sharp {
  // failOn 'warning': a truncated JPEG is an error, not a half-grey thumbnail.
  return sharp(srcPath(job), { limitInputPixels: job.maxPixels, failOn: 'warning', sequentialRead: true });
}

/** Reads only the header: dimensions are checked against the cap before a single pixel is decoded. */
export async function probe(job: PipelineJob): Promise<SourceInfo> {
  let meta: Metadata;
  try {
    meta = await sharp(srcPath(job), { limitInputPixels: false }).metadata();
  } catch (err) {
    throw asDecodeError(err);
  }
  const { width, height, format } = meta;
  if (!width || !height || !format) throw imageRejected('image header has no dimensions');
  if (!DECODABLE.has(format)) throw imageRejected(`cannot decode ${format} images`);
  if (width * height > job.maxPixels)
    throw imageRejected(`image is ${width}×${height} = ${width * height} pixels, over the ${job.maxPixels} pixel limit`);
  const swap = (meta.orientation ?? 1) >= 5;
  return { width: swap ? height : width, height: swap ? width : height, format, animated: (meta.pages ?? 1) > 1 };
}

function encode(img: Sharp, v: PlannedVariant, r: VariantRecipe): Sharp {
  switch (v.format) {
    case 'webp':
      return img.webp({ quality: r.webp.quality, effort: r.webp.effort });
    case 'avif': {
      const o = v.size ? r.thumbnail_avif : r.avif;
      return img.avif({ quality: o.quality, effort: o.effort });
    }
    case 'jpeg':
      return img.jpeg({ quality: r.original_quality, mozjpeg: false });
    case 'png':
      return img.png({ compressionLevel: 6 });
    case 'gif':
      return img.gif();
    case 'tiff':
      return img.tiff({ quality: r.original_quality, compression: 'jpeg' });
  }
}

interface RawImage {
  data: Buffer;
  info: OutputInfo;
}

/**
 * One decode for a phase: orientation applied, converted to sRGB (no profile is embedded in
 * variants, so browsers show them as sRGB), metadata (EXIF, GPS, XMP) never copied. Thumbnails
 * decode straight at the largest thumbnail size, which lets JPEG shrink-on-load skip most work.
 */
async function decode(job: PipelineJob, maxEdge: number | undefined): Promise<RawImage> {
  let img = input(job).rotate().toColourspace('srgb');
  if (maxEdge) img = img.resize(maxEdge, maxEdge, { fit: 'inside', withoutEnlargement: true });
  try {
    return await img.raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw asDecodeError(err);
  }
}

async function writeVariant(job: PipelineJob, disk: DiskStore, raw: RawImage, v: PlannedVariant): Promise<VariantFile> {
  const { width, height, channels } = raw.info;
  let img = sharp(raw.data, { raw: { width, height, channels } });
  if (v.size) img = img.resize(v.size, v.size, { fit: 'inside', withoutEnlargement: true });
  const rel = variantRelPath(job.originalRelPath, job.uuid, v);
  const tmpPath = disk.tmpPath(`${job.uuid}${v.suffix}.${v.ext}.${randomUUID()}`);
  try {
    const t0 = performance.now();
    const info = await encode(img, v, job.recipe).toFile(tmpPath);
    const bytes = await disk.syncFile(tmpPath);
    await disk.commit({ tmpPath }, rel, { deferDirSync: true });
    job.onWritten?.(v.name, (performance.now() - t0) / 1000);
    return { name: v.name, rel_path: rel, width: info.width, height: info.height, bytes, mime: mimeForExt(v.ext) };
  } catch (err) {
    await disk.discard({ tmpPath });
    throw err;
  }
}

/**
 * Full-size encodes of an image larger than this run one at a time. Full-size AVIF is what costs
 * memory: libheif/aom hold ~19 bytes per pixel (a 100 MP AVIF alone peaks at ~2.0 GiB RSS, WebP
 * ~0.55 GiB, the shared raw decode 0.3 GiB; measured with scripts/bench/worker-rss-probe.ts).
 * Side by side, a 100 MP PNG drove the worker to 2.7 GiB and a 50 MP one to 1.45 GiB; one at a
 * time the worst image the default cap (50 MP) admits peaks at 1.22 GiB (1245 MiB, 10 CPU-s), under
 * the worker unit's MemoryMax=1536M. Up to 24 MP (every 12–24 MP photo) the two encodes still
 * share the cores: 0.73 GiB (748 MiB) at 24 MP.
 */
export const SIDE_BY_SIDE_MAX_PIXELS = 24_000_000;

/**
 * Makes one phase's variants from one decode, `parallel` encodes at a time, each written to
 * tmp, fsynced and renamed; then one fsync of the variants directory for the whole phase.
 */
export async function runPhase(job: PipelineJob, variants: PlannedVariant[]): Promise<VariantFile[]> {
  if (variants.length === 0) return [];
  const sizes = variants.map((v) => v.size);
  const maxEdge = sizes.every((s) => s !== undefined) ? Math.max(...(sizes as number[])) : undefined;
  const raw = await decode(job, maxEdge);
  const disk = new DiskStore({ root: job.poolPath });
  const pixels = raw.info.width * raw.info.height;
  const files = await inParallel(
    maxEdge === undefined && pixels > SIDE_BY_SIDE_MAX_PIXELS ? 1 : job.parallel,
    variants.map((v) => () => writeVariant(job, disk, raw, v)),
  );
  await disk.syncDirOf(files[0]!.rel_path);
  return files;
}
