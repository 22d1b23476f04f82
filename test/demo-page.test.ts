import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UPLOAD_PATH } from '../shared/api.js';
import { openBrowser, type TestBrowser } from './support/browser.js';
import { makePhoto } from './support/photos.js';
import { startTestCluster, type TestCluster } from './support/test-cluster.js';

describe('demo upload page in a real headless Chromium', () => {
  let t: TestCluster;
  let b: TestBrowser;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fennec-demo-'));
    [t, b] = await Promise.all([
      startTestCluster({ nodeEnv: { FENNEC_LOG_LEVEL: 'info' }, coordinatorEnv: { FENNEC_LOG_LEVEL: 'info' } }),
      openBrowser(),
    ]);
  });
  afterAll(async () => {
    await b?.close();
    await t?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the node answers CORS preflights for the direct and tus upload routes', async () => {
    const node = t.cluster.info.nodes[0]!.url;
    const origin = t.cluster.info.coordinator_url;
    for (const route of [UPLOAD_PATH, '/api/internal/upload', '/api/internal/tus']) {
      const res = await fetch(`${node}${route}`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,x-checksum-sha256' },
      });
      expect(res.status, route).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(res.headers.get('access-control-allow-methods')).toContain('POST');
      expect(res.headers.get('access-control-allow-headers')).toContain('x-checksum-sha256');
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    }
    // An error answer is readable by the page too (no token → 401 with CORS headers).
    const denied = await fetch(`${node}${UPLOAD_PATH}`, { method: 'POST', headers: { origin }, body: 'x' });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe('*');
    // tus discovery (OPTIONS without a preflight) still reaches the tus server.
    const tus = await fetch(`${node}/api/internal/tus`, { method: 'OPTIONS' });
    expect(tus.headers.get('tus-version')).toContain('1.0.0');
  });

  it('uploads two photos with a progress bar each, then shows both thumbnails', async () => {
    const files = await Promise.all(
      [1, 2].map(async (seed) => {
        const file = path.join(dir, `holiday-${seed}.jpg`);
        writeFileSync(file, await makePhoto({ width: 1600, height: 1200, seed }));
        return file;
      }),
    );
    const { page } = b;
    const res = await page.goto(`${t.cluster.info.coordinator_url}/demo/`);
    expect(res?.status()).toBe(200);
    await page.fill('#app-key', t.cluster.info.app_key);
    await page.setInputFiles('#files', files);

    const items = page.locator('#uploads li.upload');
    await expect.poll(() => items.count()).toBe(2);
    for (const name of ['holiday-1.jpg', 'holiday-2.jpg']) {
      const item = page.locator(`#uploads li[data-file="${name}"]`);
      await item
        .locator('img')
        .waitFor({ timeout: 30_000 })
        .catch(async (err: Error) => {
          throw new Error(`${err.message}\npage shows: ${await page.textContent('#uploads')}`);
        });
      await expect.poll(() => item.getAttribute('class'), { timeout: 10_000 }).toContain('shown');
      expect(await item.locator('progress').evaluate((p) => (p as unknown as { value: number }).value)).toBe(1);
      const natural = await item.locator('img').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth);
      expect(natural).toBeGreaterThan(0);
      expect(natural).toBeLessThanOrEqual(200);
      expect(await item.locator('img').getAttribute('src')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/uploads\/variants\/.*_small\.webp$/);
      expect(await item.locator('.state').textContent()).toMatch(/^(Ready|Thumbnails ready): 1600×1200 jpeg/);
      // The image is the user's, indexed at the coordinator.
      const uuid = (await item.getAttribute('data-uuid'))!;
      expect((await t.appGet(`/api/v1/images/${uuid}`)).body).toMatchObject({ user_id: 'demo-user', mime: 'image/jpeg' });
    }
    await page.screenshot({ path: '/tmp/fennec-demo-page.png', fullPage: true });
    // Only the polls before the node's outbox told the coordinator about the upload may 404.
    expect(b.problems.filter((p) => !/^404 GET \/api\/v1\/images\//.test(p))).toEqual([]);
  });
  it('sends a photo resumably with tus when asked, and shows its thumbnail', async () => {
    const file = path.join(dir, 'resumable.jpg');
    writeFileSync(file, await makePhoto({ width: 1600, height: 1200, seed: 7 }));
    const { page } = b;
    await page.goto(`${t.cluster.info.coordinator_url}/demo/`);
    await page.fill('#app-key', t.cluster.info.app_key);
    await page.check('#tus');
    await page.setInputFiles('#files', [file]);
    const item = page.locator('#uploads li[data-file="resumable.jpg"]');
    await item
      .locator('img')
      .waitFor({ timeout: 30_000 })
      .catch(async (err: Error) => {
        throw new Error(`${err.message}\npage shows: ${await page.textContent('#uploads')}`);
      });
    expect(await item.getAttribute('data-via')).toBe('tus');
    const uuid = (await item.getAttribute('data-uuid'))!;
    expect((await t.appGet(`/api/v1/images/${uuid}`)).body).toMatchObject({
      user_id: 'demo-user',
      mime: 'image/jpeg',
      thumbnails_ready: true,
    });
  });
});
