import { request } from 'undici';
import { COORDINATOR_AUDIENCE } from '../shared/api.js';
import { DeliveryLoop } from '../shared/delivery-loop.js';
import type { Logger } from '../shared/logger.js';
import { isNodeReportKind, NODE_REPORTS, type NodeReportSpec } from '../shared/reports.js';
import { type SigningKey, sha256Hex, signNodeRequest } from '../shared/tokens.js';
import type { NodeStore, OutboxRow } from './db/store.js';

export interface OutboxDeps {
  store: NodeStore;
  logger: Logger;
  nodeId: string;
  nodeKey: SigningKey;
  coordinatorUrl: string;
  maxBackoffMs: number;
  /** Delivery, replaceable in tests; returns the HTTP status or throws on a network error. */
  send?: (url: string, body: string, token: string) => Promise<number>;
  pollMs?: number;
  /** First retry delay, doubled per attempt up to maxBackoffMs (500 ms unless a test shortens it). */
  baseBackoffMs?: number;
  /**
   * A 410 means the coordinator will never take the report and the node must undo what it
   * describes (upload/refused.ts); the row is done once this returns, retried if it throws.
   */
  onRefused?: (row: OutboxRow) => Promise<void>;
}

const BATCH = 32;

/** Where a row goes: the report of its kind, if that report travels through the outbox. */
function reportOf(kind: string): NodeReportSpec | undefined {
  if (!isNodeReportKind(kind)) return undefined;
  const spec: NodeReportSpec = NODE_REPORTS[kind];
  return spec.delivery === 'outbox' ? spec : undefined;
}

async function undiciSend(url: string, body: string, token: string): Promise<number> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  await res.body.dump();
  return res.statusCode;
}

/**
 * Delivers rows committed with each upload to the coordinator. The row is written in the same
 * transaction as the object, so a coordinator down for minutes (or a crash) loses nothing: the
 * loop retries with exponential backoff until a 2xx. 4xx other than 401/429 is permanent — the
 * row is marked dead (kept for the operator) instead of retried forever; a 410 with an
 * `onRefused` handler is undone on the node and then done.
 */
export class Outbox {
  readonly #deps: OutboxDeps;
  readonly #send: NonNullable<OutboxDeps['send']>;
  readonly #loop: DeliveryLoop<OutboxRow>;

  constructor(deps: OutboxDeps) {
    this.#deps = deps;
    this.#send = deps.send ?? undiciSend;
    // One row at a time: a node's callbacks reach the coordinator in the order they happened.
    this.#loop = new DeliveryLoop<OutboxRow>({
      due: (now, limit) => deps.store.dueOutbox(now, limit),
      nextAt: () => deps.store.nextOutboxAt(),
      deliver: (row) => this.#deliver(row),
      batch: BATCH,
      parallel: false,
      logger: deps.logger,
      name: 'outbox',
      pollMs: deps.pollMs,
    });
  }

  start(): void {
    this.#loop.start();
  }

  /** Called right after an insert, so a healthy coordinator hears about an upload at once. */
  wake(): void {
    this.#loop.wake();
  }

  stop(): Promise<void> {
    return this.#loop.stop();
  }

  async #deliver(row: OutboxRow): Promise<void> {
    const { store, logger } = this.#deps;
    const route = reportOf(row.kind);
    if (!route) {
      store.outboxDead(row.id, `unknown kind ${row.kind}`);
      logger.error({ outbox_id: row.id, kind: row.kind }, 'outbox row of unknown kind marked dead');
      return;
    }
    let status: number;
    try {
      const token = await signNodeRequest(
        { nodeId: this.#deps.nodeId, audience: COORDINATOR_AUDIENCE, purpose: route.purpose, sha256: sha256Hex(row.payload) },
        this.#deps.nodeKey,
      );
      status = await this.#send(`${this.#deps.coordinatorUrl}${route.path}`, row.payload, token);
    } catch (err) {
      this.#retry(row, `network: ${(err as Error).message}`);
      return;
    }
    if (status >= 200 && status < 300) {
      store.outboxDone(row.id);
      logger.debug({ outbox_id: row.id, kind: row.kind }, 'outbox row delivered');
    } else if (status === 410 && this.#deps.onRefused) {
      try {
        await this.#deps.onRefused(row);
      } catch (err) {
        this.#retry(row, `refusal: ${(err as Error).message}`);
        return;
      }
      store.outboxDone(row.id);
      logger.warn({ outbox_id: row.id, kind: row.kind }, 'coordinator refused an outbox row for good; undone on this node');
    } else if (status === 401 || status === 429 || status >= 500) {
      this.#retry(row, `http ${status}`);
    } else {
      store.outboxDead(row.id, `http ${status}`);
      logger.error({ outbox_id: row.id, kind: row.kind, status }, 'coordinator refused an outbox row; marked dead');
    }
  }

  #retry(row: OutboxRow, error: string): void {
    const backoff = Math.min(this.#deps.maxBackoffMs, (this.#deps.baseBackoffMs ?? 500) * 2 ** Math.min(row.attempts, 20));
    this.#deps.store.outboxRetry(row.id, Date.now() + backoff, error);
    if (row.attempts === 0) this.#deps.logger.warn({ outbox_id: row.id, error }, 'outbox delivery failed; retrying with backoff');
  }
}
