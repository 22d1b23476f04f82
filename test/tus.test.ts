import { createHash } from 'node:crypto';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionResponse } from '../shared/api.js';
import { fakeJpeg } from './support/images.js';
import { eventually, startTestCluster, type TestCluster } from './support/test-cluster.js';

const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** What an app keeps between attempts (localStorage in a browser, a file or DB on a phone). */
class MemoryUrlStorage implements tus.UrlStorage {
  readonly entries = new Map<string, tus.PreviousUpload & { fingerprint: string }>();
  async findAllUploads() {
    return [...this.entries.values()];
  }
  async findUploadsByFingerprint(fingerprint: string) {
    return [...this.entries.values()].filter((e) => e.fingerprint === fingerprint);
  }
  async removeUpload(key: string) {
    this.entries.delete(key);
  }
  async addUpload(fingerprint: string, upload: tus.PreviousUpload) {
    const key = `tus::${fingerprint}::${this.entries.size}`;
    this.entries.set(key, { ...upload, fingerprint, urlStorageKey: key });
    return key;
  }
}

interface Outcome {
  uuid: string | undefined;
  url: string | null;
}

/** Runs one tus-js-client Upload to success, or until `abortAt` bytes were sent (then aborts it). */
function run(upload: tus.Upload, opts: { abortAt?: number; start?: (u: tus.Upload) => Promise<void> } = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let uuid: string | undefined;
    let aborted = false;
    upload.options.onAfterResponse = (_req, res) => {
      uuid = res.getHeader('Fennec-Image-Uuid') ?? uuid;
    };
    upload.options.onSuccess = () => resolve({ uuid, url: upload.url });
    upload.options.onError = reject;
    upload.options.onProgress = (sent) => {
      if (opts.abortAt !== undefined && !aborted && sent >= opts.abortAt) {
        aborted = true;
        void upload.abort().then(() => resolve({ uuid: undefined, url: upload.url }));
      }
    };
    if (opts.start) opts.start(upload).catch(reject);
    else upload.start();
  });
}

describe('tus 1.0 with tus-js-client against a running node', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster({ nodes: 2, nodeEnv: { FENNEC_LOG_LEVEL: 'info' } });
  }, 30_000);
  afterAll(async () => {
    await t?.stop();
  });

  const nodeIndex = (s: SessionResponse) => t.cluster.info.nodes.findIndex((n) => n.node_id === s.node_id);
  const headOffset = async (url: string, token: string) => {
    const res = await fetch(url, { method: 'HEAD', headers: { 'tus-resumable': '1.0.0', authorization: `Bearer ${token}` } });
    return res.status === 200 ? Number(res.headers.get('upload-offset')) : -res.status;
  };

  it('a 50 MB upload interrupted twice resumes and finishes with the right SHA-256', async () => {
    const data = fakeJpeg(50 * MiB);
    const s = await t.session('tus-big', data.length);
    const urlStorage = new MemoryUrlStorage();
    const options = (): tus.UploadOptions => ({
      endpoint: s.tus_url,
      headers: { authorization: `Bearer ${s.token}` },
      chunkSize: 4 * MiB,
      retryDelays: [100, 500, 1000, 2000],
      metadata: { filename: 'big.jpg' },
      urlStorage,
    });

    const first = await run(new tus.Upload(data, options()), { abortAt: 12 * MiB });
    expect(first.url).toBeTruthy();
    const afterFirst = await eventually(async () =>
      (await headOffset(first.url!, s.token)) > 0 ? headOffset(first.url!, s.token) : false,
    );

    // A fresh client finds the upload the app remembered and resumes it.
    const second = await run(new tus.Upload(data, options()), {
      abortAt: 30 * MiB,
      start: async (u) => {
        const previous = await u.findPreviousUploads();
        expect(previous).toHaveLength(1);
        u.resumeFromPreviousUpload(previous[0]!);
        u.start();
      },
    });
    expect(second.url).toBe(first.url);
    const afterSecond = await eventually(async () => {
      const o = await headOffset(first.url!, s.token);
      return o > afterFirst ? o : false;
    });
    expect(afterSecond).toBeLessThan(data.length);

    // The third attempt only knows the URL.
    const third = await run(new tus.Upload(data, { ...options(), urlStorage: new MemoryUrlStorage(), uploadUrl: first.url }));
    expect(third.uuid).toMatch(/^[0-9a-f-]{36}$/);
    const image = await eventually(async () => {
      const r = await t.appGet(`/api/v1/images/${third.uuid}`);
      return r.status === 200 ? r.body : false;
    });
    expect(image.sha256).toBe(sha256(data));
    expect(image.size).toBe(data.length);
    expect(t.poolFiles(nodeIndex(s), 'tmp/tus')).toEqual([]);
  }, 30_000);

  it('uploads 20 files in parallel', async () => {
    const files = Array.from({ length: 20 }, (_, i) => fakeJpeg(64 * 1024 + i * 7919));
    const results = await Promise.all(
      files.map(async (data, i) => {
        const s = await t.session(`tus-par-${i % 4}`, data.length);
        const out = await run(
          new tus.Upload(data, {
            endpoint: s.tus_url,
            headers: { authorization: `Bearer ${s.token}` },
            chunkSize: 32 * 1024,
            retryDelays: [100, 500],
          }),
        );
        return { out, sha: sha256(data) };
      }),
    );
    expect(new Set(results.map((r) => r.out.uuid)).size).toBe(20);
    for (const { out, sha } of results) {
      const image = await eventually(async () => {
        const r = await t.appGet(`/api/v1/images/${out.uuid}`);
        return r.status === 200 ? r.body : false;
      });
      expect(image.sha256).toBe(sha);
    }
  }, 30_000);

  it('refuses a token for another node', async () => {
    const s = await t.session('tus-other', 1000);
    const other = t.cluster.info.nodes[1 - nodeIndex(s)]!;
    // Retries cover a 503 while that node still fetches the coordinator's keys; a 401 is final.
    const err = await run(
      new tus.Upload(fakeJpeg(1000), {
        endpoint: `${other.url}/api/internal/tus`,
        headers: { authorization: `Bearer ${s.token}` },
        retryDelays: [200, 500, 1000, 2000],
      }),
    ).then(
      () => undefined,
      (e: tus.DetailedError) => e,
    );
    expect(err?.originalResponse?.getStatus(), err?.message).toBe(401);
    expect(err?.originalResponse?.getBody()).toContain('wrong_node');
  });

  it('termination deletes the partial data', async () => {
    const data = fakeJpeg(8 * MiB);
    const s = await t.session('tus-term', data.length);
    const upload = new tus.Upload(data, {
      endpoint: s.tus_url,
      headers: { authorization: `Bearer ${s.token}` },
      chunkSize: MiB,
      retryDelays: null,
    });
    await new Promise<void>((resolve, reject) => {
      upload.options.onError = reject;
      upload.options.onChunkComplete = (_n, accepted) => {
        if (accepted >= 3 * MiB) resolve();
      };
      upload.start();
    });
    const node = nodeIndex(s);
    expect(t.poolFiles(node, 'tmp/tus').length).toBeGreaterThan(0);
    await upload.abort(true);
    expect(t.poolFiles(node, 'tmp/tus')).toEqual([]);
    expect(await headOffset(upload.url!, s.token)).toBe(-404);
  });

  it('answers 413, 460, 409 and 401 at the protocol level', async () => {
    const s = await t.session('tus-proto', 100_000);
    const tusHeaders = { 'tus-resumable': '1.0.0', authorization: `Bearer ${s.token}` };
    const over = await fetch(s.tus_url, { method: 'POST', headers: { ...tusHeaders, 'upload-length': String(s.max_size + 1) } });
    expect(over.status).toBe(413);
    const created = await fetch(s.tus_url, { method: 'POST', headers: { ...tusHeaders, 'upload-length': '100000' } });
    expect(created.status).toBe(201);
    const url = new URL(created.headers.get('location')!, s.tus_url).href;
    const chunk = fakeJpeg(10_000);
    const patch = (offset: number, extra: Record<string, string> = {}, headers: Record<string, string> = tusHeaders) =>
      fetch(url, {
        method: 'PATCH',
        headers: { ...headers, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset), ...extra },
        body: chunk,
      });
    const wrongSum = createHash('sha256').update('not the chunk').digest('base64');
    expect((await patch(0, { 'upload-checksum': `sha256 ${wrongSum}` })).status).toBe(460);
    expect(await headOffset(url, s.token)).toBe(0);
    expect((await patch(0)).status).toBe(204);
    expect((await patch(5)).status).toBe(409);
    expect((await patch(10_000, {}, { 'tus-resumable': '1.0.0' })).status).toBe(401);
    expect((await fetch(url, { method: 'HEAD', headers: { 'tus-resumable': '1.0.0' } })).status).toBe(401);
  });
});
