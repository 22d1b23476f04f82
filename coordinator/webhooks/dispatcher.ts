import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { Agent, type Dispatcher, request } from 'undici';
import { DeliveryLoop } from '../../shared/delivery-loop.js';
import type { WebhookOutboxRepo, WebhookRow } from './outbox-repo.js';
import { signWebhook, WEBHOOK_SIGNATURE_HEADER } from './sign.js';
import { publicOnlyLookup, type ResolveAll, WEBHOOK_URL_REFUSED, webhookUrlProblem } from './target.js';

export interface WebhookDispatcherDeps {
  outbox: WebhookOutboxRepo;
  logger: Logger;
  issuer: string;
  signingKey: () => { kid: string; privateKey: KeyObject };
  /** First retry delay, doubled per attempt up to maxBackoffMs. */
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** After this many failed attempts the row is kept as dead (visible to the operator), not retried. */
  maxAttempts: number;
  pollMs?: number;
  /** Told each attempt's outcome (for /metrics). */
  onOutcome?: (outcome: 'delivered' | 'retried' | 'dead') => void;
  /** Deliver to loopback, private and link-local targets too (FENNEC_WEBHOOK_ALLOW_PRIVATE; target.ts). */
  allowPrivate?: boolean;
  /** Name resolution of webhook hosts (default: the system's); tests resolve without DNS. */
  resolveAll?: ResolveAll;
}

const BATCH = 16;

/** A target refused by the policy: retrying cannot help, so the row is dead at once. */
class RefusedTarget extends Error {}

/**
 * One POST. undici's request follows no redirect (a 3xx is a failed attempt), so a public host
 * cannot bounce the coordinator to a private one.
 */
async function post(dispatcher: Dispatcher | undefined, url: string, body: string, headers: Record<string, string>): Promise<number> {
  const res = await request(url, { method: 'POST', headers, body, headersTimeout: 10_000, bodyTimeout: 10_000, dispatcher });
  await res.body.dump();
  return res.statusCode;
}

/**
 * Delivers queued webhooks to apps: signed, one POST per event, retried with exponential backoff
 * on a network error or a non-2xx answer. The row is written with the event's state change, so a
 * coordinator restart loses no webhook; a 2xx marks it delivered, so an app sees it once (unless
 * its 2xx itself is lost: apps de-duplicate by `fennec-event-id`).
 */
export class WebhookDispatcher {
  readonly #deps: WebhookDispatcherDeps;
  readonly #loop: DeliveryLoop<WebhookRow>;
  /** Connections whose every resolved address is checked; undefined = the global one (private allowed). */
  readonly #agent: Agent | undefined;

  constructor(deps: WebhookDispatcherDeps) {
    this.#deps = deps;
    this.#agent = deps.allowPrivate ? undefined : new Agent({ connect: { lookup: publicOnlyLookup(deps.resolveAll) } });
    // Apps are independent receivers: a batch is delivered side by side.
    this.#loop = new DeliveryLoop<WebhookRow>({
      due: (now, limit) => deps.outbox.due(now, limit),
      nextAt: () => deps.outbox.nextAt(),
      deliver: (row) => this.#deliver(row),
      batch: BATCH,
      parallel: true,
      logger: deps.logger,
      name: 'webhook',
      pollMs: deps.pollMs,
    });
  }

  start(): void {
    this.#loop.start();
  }

  wake(): void {
    this.#loop.wake();
  }

  async stop(): Promise<void> {
    await this.#loop.stop();
    await this.#agent?.close();
  }

  async #deliver(row: WebhookRow): Promise<void> {
    const { outbox, logger } = this.#deps;
    let error: string;
    let refused = false;
    try {
      const problem = webhookUrlProblem(row.url, { allowPrivate: this.#deps.allowPrivate });
      if (problem) throw new RefusedTarget(problem);
      const signature = await signWebhook(
        { issuer: this.#deps.issuer, appId: row.app_id, event: row.event, eventId: row.event_id, body: row.payload },
        this.#deps.signingKey(),
      );
      const status = await post(this.#agent, row.url, row.payload, {
        'content-type': 'application/json',
        'user-agent': 'fennec-webhooks',
        [WEBHOOK_SIGNATURE_HEADER]: signature,
        'fennec-event': row.event,
        'fennec-event-id': row.event_id,
      });
      if (status >= 200 && status < 300) {
        outbox.delivered(row.id, Date.now());
        this.#deps.onOutcome?.('delivered');
        logger.debug({ event_id: row.event_id, app_id: row.app_id }, 'webhook delivered');
        return;
      }
      error = `http ${status}`;
    } catch (err) {
      refused = err instanceof RefusedTarget || (err as NodeJS.ErrnoException).code === WEBHOOK_URL_REFUSED;
      error = refused ? `refused: ${(err as Error).message}` : `network: ${(err as Error).message}`;
    }
    if (refused || row.attempts + 1 >= this.#deps.maxAttempts) {
      outbox.dead(row.id, error);
      this.#deps.onOutcome?.('dead');
      logger.error({ event_id: row.event_id, app_id: row.app_id, error }, 'webhook given up after its last attempt');
      return;
    }
    const backoff = Math.min(this.#deps.maxBackoffMs, this.#deps.baseBackoffMs * 2 ** Math.min(row.attempts, 20));
    outbox.retry(row.id, Date.now() + backoff, error);
    this.#deps.onOutcome?.('retried');
    if (row.attempts === 0) logger.warn({ event_id: row.event_id, url: row.url, error }, 'webhook delivery failed; retrying with backoff');
  }
}
