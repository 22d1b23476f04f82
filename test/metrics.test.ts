import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionResponse } from '../shared/api.js';
import { SVG } from './support/images.js';
import { makePhoto } from './support/photos.js';
import { type Sample, scrape, valueOf } from './support/prom.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

const RULES = path.join(import.meta.dirname, '..', 'scripts', 'prometheus', 'fennec-alerts.yml');

function hasPromtool(): boolean {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('/metrics on both binaries, and the sample alert rules', () => {
  let t: TestCluster;
  let hooks: Server;
  let appKey: string;
  const photoSize = { n: 0 };

  beforeAll(async () => {
    hooks = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
    t = await startTestCluster({
      nodeEnv: { FENNEC_LOG_LEVEL: 'info' },
      coordinatorEnv: { FENNEC_LOG_LEVEL: 'info', FENNEC_HEARTBEAT_MAX_AGE_MS: '5000' },
    });
    const url = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`;
    appKey = ((await t.cluster.admin('POST', '/api/v1/admin/apps', { name: 'metrics', webhook_url: url })) as { api_key: string }).api_key;

    const session = async (body: Record<string, unknown>) =>
      fetch(`${t.cluster.info.coordinator_url}/api/v1/upload/sessions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${appKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const photo = await makePhoto({ width: 640, height: 480 });
    photoSize.n = photo.length;
    const s = (await (await session({ user_id: 'm1', file_size: photo.length })).json()) as SessionResponse;
    const up = await t.uploadMultipart(s, photo);
    expect(up.status).toBe(201);
    // One refused upload (415) and one refused session (413).
    const bad = (await (await session({ user_id: 'm1', file_size: SVG.length })).json()) as SessionResponse;
    expect((await t.uploadRaw(bad, SVG, { 'content-type': 'image/svg+xml' })).status).toBe(415);
    expect((await session({ user_id: 'm1', file_size: 1e15 })).status).toBe(413);
    await eventually(
      async () => {
        const res = await fetch(`${t.cluster.info.coordinator_url}/api/v1/images/${up.body.image_uuid}`, {
          headers: { authorization: `Bearer ${appKey}` },
        });
        return ((await res.json()) as { status: string }).status === 'ready';
      },
      30_000,
      'the image ready',
    );
  });
  afterAll(async () => {
    hooks?.close();
    await t?.stop();
  });

  it('the node reports uploads, errors, processing, jobs and pool space', async () => {
    const node = t.cluster.info.nodes[0]!;
    const { samples } = await eventually(
      async () => {
        const m = await scrape(node.url);
        // The pool figures come from the heartbeat after the upload; the job counter after the last job.
        const used = valueOf(m.samples, 'fennec_node_pool_used_bytes', { pool: 's01-hot' }) ?? 0;
        const done = valueOf(m.samples, 'fennec_node_jobs_finished_total', { kind: 'variants', outcome: 'completed' }) ?? 0;
        return used >= photoSize.n && done >= 2 ? m : undefined;
      },
      10_000,
      'pool and job figures',
    );
    const v = (name: string, labels: Record<string, string> = {}) => valueOf(samples, name, labels);

    expect(v('fennec_node_upload_duration_seconds_count', { kind: 'direct' })).toBe(1);
    expect(v('fennec_node_upload_duration_seconds_sum', { kind: 'direct' })).toBeGreaterThan(0);
    expect(v('fennec_node_upload_duration_seconds_sum', { kind: 'direct' })).toBeLessThan(10);
    expect(v('fennec_node_upload_size_bytes_sum', { kind: 'direct' })).toBe(photoSize.n);
    expect(v('fennec_node_upload_size_bytes_bucket', { kind: 'direct', le: '+Inf' })).toBe(1);
    expect(v('fennec_node_upload_errors_total', { reason: 'unsupported_type' })).toBe(1);
    expect(v('fennec_node_uploads_total', { status: '415' })).toBe(1);
    expect(v('fennec_node_active_uploads')).toBe(0);

    expect(v('fennec_node_images_processed_total', { outcome: 'thumbnails_ready' })).toBe(1);
    expect(v('fennec_node_images_processed_total', { outcome: 'ready' })).toBe(1);
    expect(v('fennec_node_variant_phase_duration_seconds_count', { phase: 'thumbnails' })).toBe(1);
    expect(v('fennec_node_variant_phase_duration_seconds_count', { phase: 'full' })).toBe(1);
    for (const variant of ['small.webp', 'small.avif', 'small.jpg', 'medium.webp', 'full.webp', 'full.avif'])
      expect(v('fennec_node_variant_encode_duration_seconds_count', { variant }), variant).toBe(1);
    expect(v('fennec_node_jobs_finished_total', { kind: 'variants', outcome: 'completed' })).toBe(2);
    expect(v('fennec_node_jobs', { state: 'waiting' })).toBe(0);

    const total = v('fennec_node_pool_total_bytes', { pool: 's01-hot' })!;
    const free = v('fennec_node_pool_free_bytes', { pool: 's01-hot' })!;
    expect(total).toBeGreaterThan(free);
    expect(free).toBeGreaterThan(0);
    expect(v('fennec_node_pool_fill_ratio', { pool: 's01-hot' })).toBeCloseTo(1 - free / total, 3);
    expect(v('fennec_node_pool_writable', { pool: 's01-hot' })).toBe(1);
    // No uuid or user id ever becomes a label.
    expectLowCardinality(samples);
  });

  it('the coordinator reports sessions, heartbeats, queues and webhooks', async () => {
    const { samples } = await eventually(
      async () => {
        const m = await scrape(t.cluster.info.coordinator_url);
        return (valueOf(m.samples, 'fennec_webhook_deliveries_total', { outcome: 'delivered' }) ?? 0) >= 2 ? m : undefined;
      },
      10_000,
      'webhooks delivered',
    );
    const v = (name: string, labels: Record<string, string> = {}) => valueOf(samples, name, labels);
    expect(v('fennec_sessions_total', { outcome: 'created' })).toBe(2);
    expect(v('fennec_sessions_total', { outcome: 'too_large' })).toBe(1);
    expect(v('fennec_node_heartbeat_up', { node: 's01' })).toBe(1);
    const age = v('fennec_node_heartbeat_age_seconds', { node: 's01' })!;
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(5);
    expect(v('fennec_queue_jobs', { node: 's01', state: 'waiting' })).toBe(0);
    // thumbnails_ready and ready for the photo (the 415 stored nothing, so no event).
    expect(v('fennec_webhook_deliveries_total', { outcome: 'delivered' })).toBe(2);
    expect(v('fennec_webhooks_pending')).toBe(0);
    expectLowCardinality(samples);
  });

  it.skipIf(!hasPromtool())('promtool accepts the alert rules, and they fire at their thresholds (promtool test rules)', () => {
    const out = execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(out).toContain('SUCCESS');
    const tested = execFileSync('promtool', ['test', 'rules', RULES.replace(/\.yml$/, '.test.yml')], { encoding: 'utf8' });
    expect(tested).toContain('SUCCESS');
  });

  it('every metric the alert rules name is exported by the running cluster', async () => {
    const rules = readFileSync(RULES, 'utf8').replace(/^\s*#.*$/gm, '');
    const named = new Set(rules.match(/\bfennec_[a-z_]+/g));
    expect(named.size).toBeGreaterThan(5);
    const types = new Map<string, string>();
    for (const url of [t.cluster.info.coordinator_url, t.cluster.info.nodes[0]!.url])
      for (const [k, val] of (await scrape(url)).types) types.set(k, val);
    // Backup jobs do not exist yet, but their counter does (kind="backup" series appear with them).
    const missing = [...named].filter((n) => !types.has(n));
    expect(missing).toEqual([]);
  });
});

function expectLowCardinality(samples: Sample[]): void {
  const uuidish = /[0-9a-f]{8}-[0-9a-f]{4}-|^m1$/;
  for (const s of samples.filter((x) => x.name.startsWith('fennec_')))
    for (const [k, val] of Object.entries(s.labels)) expect(uuidish.test(val), `${s.name}{${k}="${val}"}`).toBe(false);
}
