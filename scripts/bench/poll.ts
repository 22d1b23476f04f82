import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';

/** How often the figures that wait on the cluster look again. */
export const POLL_MS = 50;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every POLL_MS until it returns a value; fails after `timeoutMs` with `what`. */
export async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

/** `GET /api/v1/images/{uuid}` with the app key: status and parsed body. */
export async function getImage(coordinator: Dispatcher, appKey: string, uuid: string): Promise<{ status: number; body: any }> {
  const res = await coordinator.request({
    method: 'GET',
    path: `/api/v1/images/${uuid}`,
    headers: { authorization: `Bearer ${appKey}` },
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
}
