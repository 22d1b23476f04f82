import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../shared/errors.js';
import { bombJpeg, makePhoto } from '../../test/support/photos.js';
import { type PipelineJob, probe, runPhase } from './pipeline.js';
import { DEFAULT_RECIPE, planVariants } from './recipe.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function pool(file: Buffer, ext: string): PipelineJob {
  const base = mkdtempSync(path.join(os.tmpdir(), 'fennec-variants-'));
  dirs.push(base);
  mkdirSync(path.join(base, 'tmp'));
  mkdirSync(path.join(base, 'original/2026/01/02'), { recursive: true });
  const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e';
  const rel = `original/2026/01/02/${uuid}.${ext}`;
  writeFileSync(path.join(base, rel), file);
  return { uuid, poolPath: base, originalRelPath: rel, recipe: DEFAULT_RECIPE, maxPixels: 100_000_000, parallel: 2 };
}

describe('variant pipeline', () => {
  it('makes every default variant with the right size and format, orientation applied, GPS gone', async () => {
    // Stored 300×200 with EXIF orientation 6: displayed 200×300.
    const job = pool(await makePhoto({ width: 600, height: 400, orientation: 6, gps: true }), 'jpg');
    const info = await probe(job);
    expect(info).toMatchObject({ width: 400, height: 600, format: 'jpeg', animated: false });
    const plan = planVariants(job.recipe, 'jpg');
    const thumbs = await runPhase(
      job,
      plan.filter((v) => v.phase === 'thumbnails'),
    );
    const full = await runPhase(
      job,
      plan.filter((v) => v.phase === 'full'),
    );
    const byName = Object.fromEntries([...thumbs, ...full].map((f) => [f.name, f]));
    expect(Object.keys(byName).sort()).toEqual([
      'full.avif',
      'full.webp',
      'medium.avif',
      'medium.jpg',
      'medium.webp',
      'small.avif',
      'small.jpg',
      'small.webp',
    ]);
    expect(byName['small.webp']).toMatchObject({ width: 133, height: 200, mime: 'image/webp' });
    expect(byName['medium.jpg']).toMatchObject({ width: 333, height: 500, mime: 'image/jpeg' });
    expect(byName['full.avif']).toMatchObject({ width: 400, height: 600, mime: 'image/avif' });
    expect(byName['small.webp']!.rel_path).toBe(`variants/2026/01/02/${job.uuid}_small.webp`);
    expect(byName['full.webp']!.rel_path).toBe(`variants/2026/01/02/${job.uuid}.webp`);
    for (const f of Object.values(byName)) {
      const meta = await sharp(path.join(job.poolPath, f.rel_path)).metadata();
      expect([meta.width, meta.height]).toEqual([f.width, f.height]);
      expect(meta.format).toBe(f.mime === 'image/jpeg' ? 'jpeg' : f.mime === 'image/webp' ? 'webp' : 'heif');
      expect(meta.exif).toBeUndefined();
      expect(meta.orientation ?? 1).toBe(1);
    }
    expect(readdirSync(path.join(job.poolPath, 'tmp'))).toEqual([]);
  });

  it('keeps the original format for PNG and GIF thumbnails and makes WebP originals once', async () => {
    expect(planVariants(DEFAULT_RECIPE, 'webp').map((v) => v.name)).toEqual([
      'small.webp',
      'small.avif',
      'medium.webp',
      'medium.avif',
      'full.webp',
      'full.avif',
    ]);
    const png = pool(await makePhoto({ width: 300, height: 300, format: 'png' }), 'png');
    const files = await runPhase(
      png,
      planVariants(png.recipe, 'png').filter((v) => v.phase === 'thumbnails'),
    );
    expect(files.find((f) => f.name === 'small.png')).toMatchObject({ width: 200, height: 200, mime: 'image/png' });
    // Never enlarged: a 300 px image's 500 px thumbnail stays 300 px.
    expect(files.find((f) => f.name === 'medium.png')).toMatchObject({ width: 300, height: 300 });
    const gif = pool(await makePhoto({ width: 240, height: 160, format: 'gif' }), 'gif');
    const g = await runPhase(
      gif,
      planVariants(gif.recipe, 'gif').filter((v) => v.name === 'small.gif'),
    );
    expect((await sharp(path.join(gif.poolPath, g[0]!.rel_path)).metadata()).format).toBe('gif');
  });

  it('refuses a decompression bomb from its header alone', async () => {
    const job = pool(await bombJpeg(), 'jpg');
    const err = await probe(job).catch((e: unknown) => e);
    expect(isAppError(err) && err.code).toBe('image_rejected');
    expect((err as Error).message).toMatch(/50000×50000.*pixel limit/);
  });

  it('refuses a truncated JPEG with a clear reason and leaves no temp files', async () => {
    const whole = await makePhoto({ width: 400, height: 300 });
    const job = pool(whole.subarray(0, Math.floor(whole.length / 2)), 'jpg');
    await probe(job); // the header is intact
    const err = await runPhase(
      job,
      planVariants(job.recipe, 'jpg').filter((v) => v.phase === 'thumbnails'),
    ).catch((e: unknown) => e);
    expect(isAppError(err) && err.code).toBe('image_rejected');
    expect((err as Error).message).toMatch(/cannot decode/);
    expect(readdirSync(path.join(job.poolPath, 'tmp'))).toEqual([]);
  });

  it('rejects bytes that are no image at all', async () => {
    const job = pool(Buffer.from('not an image at all, just text'), 'jpg');
    const err = await probe(job).catch((e: unknown) => e);
    expect(isAppError(err) && err.code).toBe('image_rejected');
  });
});
