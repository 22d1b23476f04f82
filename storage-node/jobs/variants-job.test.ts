import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Job } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import type { VariantsJob } from '../../shared/jobs.js';
import { createLogger } from '../../shared/logger.js';
import { makePhoto } from '../../test/support/photos.js';
import type { PoolSet } from '../pools.js';
import { DEFAULT_RECIPE } from '../variants/recipe.js';
import type { ImageState, ImageWork } from './image-state.js';
import { variantsHandler } from './variants-job.js';

const UUID = '7d2a3b1c-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

describe('variants job', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fennec-variants-job-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('removes what it just wrote when the image was deleted while it encoded', async () => {
    const rel = `original/2026/12/01/${UUID}.jpg`;
    mkdirSync(path.join(dir, 'original/2026/12/01'), { recursive: true });
    mkdirSync(path.join(dir, 'tmp'));
    writeFileSync(path.join(dir, rel), await makePhoto({ width: 640, height: 480, seed: 3 }));
    const work: ImageWork = {
      uuid: UUID,
      pool_id: 'p1',
      rel_path: rel,
      mime: 'image/jpeg',
      status: 'processing',
      thumbnails_ready: 0,
      variants: '[]',
    };
    // The row is there when the job starts and gone (a delete job ran) when the phase ends.
    let reads = 0;
    const recorded: string[] = [];
    const state = {
      get: () => (reads++ === 0 ? work : undefined),
      thumbnailsReady: () => void recorded.push('thumbnails'),
      ready: () => void recorded.push('ready'),
      failed: () => void recorded.push('failed'),
    } as unknown as ImageState;
    const pools = { get: () => ({ config: { path: dir } }), s3: () => undefined } as unknown as PoolSet;
    const handler = variantsHandler({
      state,
      pools,
      logger: createLogger({ name: 't', level: 'silent' }),
      recipeFor: () => DEFAULT_RECIPE,
      maxPixels: 100_000_000,
      parallel: 2,
      enqueue: async () => true,
    });
    const outcome = await handler({
      data: { kind: 'variants', image_uuid: UUID, phase: 'thumbnails' },
      attemptsMade: 0,
      opts: { attempts: 3 },
    } as unknown as Job<VariantsJob>);
    expect(outcome).toBe('image deleted meanwhile');
    expect(recorded).toEqual([]);
    expect(readdirSync(path.join(dir, 'variants/2026/12/01'))).toEqual([]);
  });
});
