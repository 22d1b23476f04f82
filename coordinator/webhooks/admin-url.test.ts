import { describe, expect, it } from 'vitest';
import { coordinatorHarness, useRedisAndTmp } from '../../test/support/coordinator-harness.js';
import { WEBHOOK_URL_REFUSED } from './target.js';

const env = useRedisAndTmp('webhook-url');

describe('POST /api/v1/admin/apps refuses a non-public webhook URL (issue 17, item 7)', () => {
  it('400 webhook_url_not_public for cloud metadata, loopback, LAN and localhost; nothing created', async () => {
    const h = await coordinatorHarness({ redis: env.redis(), tmp: env.tmp(), nodes: [] });
    try {
      const before = h.repos.apps.list().length;
      for (const url of [
        'http://169.254.169.254/latest/meta-data/',
        'http://127.0.0.1:6379/',
        'http://[::1]:8080/',
        'http://192.168.0.10/hook',
        'http://localhost/hook',
      ]) {
        const res = await h.req('POST', '/api/v1/admin/apps', { name: 'evil', webhook_url: url });
        expect(res.status, url).toBe(400);
        expect(((await res.json()) as { error: string }).error).toBe(WEBHOOK_URL_REFUSED);
      }
      expect(h.repos.apps.list()).toHaveLength(before);
      const ok = await h.req('POST', '/api/v1/admin/apps', { name: 'fine', webhook_url: 'https://hooks.example.com/fennec' });
      expect(ok.status).toBe(201);
    } finally {
      h.close();
    }
  });

  it('201 for a loopback URL when FENNEC_WEBHOOK_ALLOW_PRIVATE is set', async () => {
    const h = await coordinatorHarness({ redis: env.redis(), tmp: env.tmp(), nodes: [] });
    try {
      h.deps.settings.webhooks = { baseBackoffMs: 1000, maxBackoffMs: 60_000, maxAttempts: 20, allowPrivate: true };
      const res = await h.req('POST', '/api/v1/admin/apps', { name: 'local', webhook_url: 'http://127.0.0.1:9/hook' });
      expect(res.status).toBe(201);
    } finally {
      h.close();
    }
  });
});
