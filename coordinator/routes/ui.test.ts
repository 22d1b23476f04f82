import { describe, expect, it } from 'vitest';
import { errorHandler, notFoundHandler } from '../../shared/http.js';
import { createLogger } from '../../shared/logger.js';
import { staticPages } from './ui.js';

function app() {
  const a = staticPages([
    { mount: 'admin', dir: 'admin-ui' },
    { mount: 'demo', dir: 'demo-ui' },
  ]);
  a.onError(errorHandler(createLogger({ name: 'test', level: 'silent' })));
  a.notFound(notFoundHandler);
  return a;
}

describe('static pages (admin, demo)', () => {
  it('serves each page with its type and a strict CSP', async () => {
    const a = app();
    const page = await a.request('/admin/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await page.text()).toContain('<script src="admin.js" defer></script>');
    const js = await a.request('/demo/demo.js');
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await a.request('/demo/')).status).toBe(200);
    const bare = await a.request('/admin');
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/admin/');
  });

  it('serves nothing outside the page directory', async () => {
    const a = app();
    for (const url of [
      '/admin/nope.js',
      '/admin/..%2Fapp.ts',
      '/admin/../app.ts',
      '/admin/%2e%2e%2fapp.ts',
      '/admin/ui.ts',
      '/demo/README',
    ])
      expect((await a.request(url)).status, url).toBe(404);
  });
});
