import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeJpeg } from './support/images.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

const TUS = { 'tus-resumable': '1.0.0' };

/**
 * Issue 17: a reservation is given back at the session's expiry + grace, so nothing may be
 * finished later. Tokens live 2 s and the grace is 1 s: a session's deadline is 3 s away.
 */
describe('quota holds past the session deadline (built binaries)', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster({
      nodes: 1,
      coordinatorEnv: { FENNEC_TOKEN_TTL_SECONDS: '2', FENNEC_SESSION_GRACE_SECONDS: '1', FENNEC_DEFAULT_QUOTA_BYTES: '200000' },
    });
  }, 30_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('a tus upload resumed after the deadline is refused and usage stays within quota', async () => {
    const data = fakeJpeg(150_000);
    const late = await t.session('mallory', data.length);
    const created = await fetch(late.tus_url, {
      method: 'POST',
      headers: { ...TUS, authorization: `Bearer ${late.token}`, 'upload-length': String(data.length) },
    });
    expect(created.status).toBe(201);
    const url = new URL(created.headers.get('location')!, late.tus_url).href;
    const first = await fetch(url, {
      method: 'PATCH',
      headers: { ...TUS, authorization: `Bearer ${late.token}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
      body: data.subarray(0, 50_000),
    });
    expect(first.status).toBe(204);

    // Past the deadline the sweeper releases the reservation: a new session gets the bytes.
    const fresh = await eventually(
      async () => {
        const res = await t.createSession({ user_id: 'mallory', file_size: data.length });
        return res.status === 201 ? res.body : undefined;
      },
      15_000,
      'the expired reservation released',
    );
    expect((await t.uploadRaw(fresh, fakeJpeg(150_000))).status).toBe(201);

    // The old upload's rest arrives now: refused, and its bytes are not counted.
    const rest = await fetch(url, {
      method: 'PATCH',
      headers: {
        ...TUS,
        authorization: `Bearer ${late.token}`,
        'content-type': 'application/offset+octet-stream',
        'upload-offset': '50000',
      },
      body: data.subarray(50_000),
    });
    expect(rest.status).toBe(410);
    const usage = await eventually(
      async () => {
        const u = await t.appGet('/api/v1/users/mallory/usage');
        return u.body?.reserved_bytes === 0 ? u.body : undefined;
      },
      10_000,
      'usage settled',
    );
    expect(usage).toMatchObject({ used_bytes: 150_000, objects: 1 });
    expect(usage.used_bytes).toBeLessThanOrEqual(200_000);
    expect(t.poolFiles(0, 'original')).toHaveLength(1);
  }, 40_000);
});
