import { setTimeout as sleep } from 'node:timers/promises';
import { errors } from '../../shared/errors.js';

/** In-flight uploads, so shutdown can wait for them (and abort the ones that outlive the wait). */
export class UploadTracker {
  readonly #active = new Set<AbortController>();
  readonly #onChange: (n: number) => void;

  constructor(onChange: (active: number) => void = () => undefined) {
    this.#onChange = onChange;
  }

  get active(): number {
    return this.#active.size;
  }

  begin(): { signal: AbortSignal; abort: (reason: unknown) => void; end: () => void } {
    const controller = new AbortController();
    this.#active.add(controller);
    this.#onChange(this.#active.size);
    return {
      signal: controller.signal,
      abort: (reason) => controller.abort(reason),
      end: () => {
        if (this.#active.delete(controller)) this.#onChange(this.#active.size);
      },
    };
  }

  /** Waits until no upload is in flight or `maxMs` passed; then aborts what is left. Returns how many were aborted. */
  async drain(maxMs: number): Promise<number> {
    const deadline = Date.now() + maxMs;
    while (this.#active.size > 0 && Date.now() < deadline) await sleep(50);
    const left = this.#active.size;
    for (const c of this.#active) c.abort(errors.unavailable('shutting_down', 'the node is shutting down'));
    return left;
  }
}
