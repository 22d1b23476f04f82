import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowser, type TestBrowser } from './support/browser.js';
import { fakeJpeg } from './support/images.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

describe('admin page in a real headless Chromium', () => {
  let t: TestCluster;
  let b: TestBrowser;
  beforeAll(async () => {
    [t, b] = await Promise.all([
      startTestCluster({ nodeEnv: { FENNEC_LOG_LEVEL: 'info' }, coordinatorEnv: { FENNEC_LOG_LEVEL: 'info' } }),
      openBrowser(),
    ]);
  });
  afterAll(async () => {
    await b?.close();
    await t?.stop();
  });

  it('asks for the key, shows the node and pool, toggles accepting', async () => {
    const { page } = b;
    const base = t.cluster.info.coordinator_url;
    const res = await page.goto(`${base}/admin/`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");

    // A wrong key is refused and the form stays.
    await page.fill('#admin-key', 'fa_wrong');
    await page.click('#key-form button[type=submit]');
    await page.waitForSelector('#key-error:has-text("not accepted")');
    expect(await page.isVisible('#dashboard')).toBe(false);

    await page.fill('#admin-key', t.cluster.info.admin_key);
    await page.click('#key-form button[type=submit]');
    const nodeRow = page.locator('#nodes tr[data-node="s01"]');
    await nodeRow.waitFor();
    await expect.poll(() => nodeRow.locator('.badge').textContent()).toBe('online');
    expect(await nodeRow.textContent()).toMatch(/free of/);
    expect(Number(await nodeRow.locator('.bar').getAttribute('aria-valuenow'))).toBeGreaterThanOrEqual(0);
    expect(await page.locator('#queues tr[data-node="s01"] td[data-state="waiting"]').textContent()).toBe('0');
    expect(await page.textContent('#moves')).toContain('No pool moves yet');
    expect(await page.textContent('#failures')).toContain('No failed images');

    // A JPEG that does not decode ends failed; it shows under recent failures with its reason.
    const junk = fakeJpeg(4000);
    const up = await t.uploadRaw(await t.session('mallory', junk.length), junk);
    expect(up.status).toBe(201);
    await eventually(async () => (await t.appGet(`/api/v1/images/${up.body.image_uuid}`)).body?.status === 'failed', 20_000, 'failed');
    await page.reload();
    const failure = page.locator('#failures tbody tr', { hasText: up.body.image_uuid.slice(0, 8) });
    await failure.waitFor();
    expect(await failure.textContent()).toContain('s01 / s01-hot');
    // Durability: the one object has its one copy and no backup (no S3 target here): at risk.
    const cls = page.locator('#durability tr[data-protection="1 copy, no backup"]');
    await cls.waitFor();
    expect(await cls.textContent()).toContain('at risk');
    expect(await page.textContent('#durability-notes')).toMatch(/1 copy not scrubbed yet.*deleted images: 0 copies to delete/);
    // A tiering policy shows in its pool's row.
    expect(await page.textContent('#pools tr[data-pool="s01-hot"] td[data-col="tiering"]')).toBe('–');
    await t.cluster.admin('PATCH', '/api/v1/admin/pools/s01-hot', { tiering: { after_seconds: 30 * 86400, to_tier: 'warm' } });
    await page.reload();
    await expect.poll(() => page.textContent('#pools tr[data-pool="s01-hot"] td[data-col="tiering"]')).toBe('→ warm after 30 d');
    await t.cluster.admin('PATCH', '/api/v1/admin/pools/s01-hot', { tiering: null });
    // The key survives a reload of the tab (sessionStorage), not in the page's URL.
    expect(page.url()).not.toContain(t.cluster.info.admin_key);

    const toggle = page.locator('#pools tr[data-pool="s01-hot"] button[data-action="toggle-accepting"]');
    expect(await toggle.getAttribute('aria-pressed')).toBe('true');
    await page.screenshot({ path: '/tmp/fennec-admin-page.png', fullPage: true });
    await toggle.click();
    await expect.poll(() => toggle.getAttribute('aria-pressed')).toBe('false');
    expect(await toggle.textContent()).toBe('Not accepting');
    const pool = (await t.cluster.admin('GET', '/api/v1/admin/pools')) as { pools: { pool_id: string; accepting: boolean }[] };
    expect(pool.pools.find((p) => p.pool_id === 's01-hot')?.accepting).toBe(false);
    // The coordinator now refuses to place uploads there.
    expect((await t.createSession({ user_id: 'a', file_size: 10 })).status).toBe(503);

    await page.reload();
    await expect.poll(() => toggle.getAttribute('aria-pressed')).toBe('false');
    await toggle.click();
    await expect.poll(() => toggle.getAttribute('aria-pressed')).toBe('true');
    const after = (await t.cluster.admin('GET', '/api/v1/admin/pools')) as { pools: { pool_id: string; accepting: boolean }[] };
    expect(after.pools.find((p) => p.pool_id === 's01-hot')?.accepting).toBe(true);
    // Only the wrong key's 401s: no script error, no CSP violation, no missing file.
    expect(b.problems.filter((p) => !/^401 GET \/api\/v1\/admin\//.test(p))).toEqual([]);
  });
});
