import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeJpeg } from './support/images.js';
import { startTestCluster, type TestCluster } from './support/test-cluster.js';

const MiB = 1024 * 1024;
/** Big enough that a buffered body would blow the RSS bound, small enough for CI's disk and time. */
const SIZE = 512 * MiB;

/**
 * Resets a process's peak resident set (Linux: `5` into clear_refs), so the next reading is this
 * upload's peak and not the start-up's (module loading peaks higher than an idle node sits).
 */
function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** Peak resident set of a process (VmHWM), in MiB. */
function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

describe('a large upload streams in constant memory', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster({ nodeEnv: { FENNEC_LOG_LEVEL: 'info' } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it(`stores ${SIZE / MiB} MiB with the node's peak RSS under 150 MB`, async () => {
    const s = await t.session('vera', SIZE);
    resetPeakRss(t.cluster.nodes[0]!.pid!);
    const hash = createHash('sha256');
    const chunk = fakeJpeg(MiB);
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < SIZE / MiB; i++) {
          hash.update(chunk);
          yield chunk;
        }
      })(),
    );
    const res = await fetch(s.upload_url, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.token}`, 'content-type': 'image/jpeg', 'content-length': String(SIZE) },
      body: Readable.toWeb(body) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    const json = (await res.json()) as { sha256: string; size: number };
    expect(res.status).toBe(201);
    expect(json.size).toBe(SIZE);
    expect(json.sha256).toBe(hash.digest('hex'));
    expect(peakRssMiB(t.cluster.nodes[0]!.pid!)).toBeLessThan(150);
  }, 180_000);
});
