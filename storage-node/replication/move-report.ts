import { request } from 'undici';
import { COORDINATOR_AUDIENCE } from '../../shared/api.js';
import { AppError } from '../../shared/errors.js';
import type { MoveItemAnswer, MoveItemReport } from '../../shared/replication.js';
import { NODE_REPORTS } from '../../shared/reports.js';
import { type SigningKey, sha256Hex, signNodeRequest } from '../../shared/tokens.js';

/**
 * Asks the coordinator, synchronously, to take one moved object: unlike the outbox's reports,
 * the move job must hear the answer before it may delete the source (the index must point away first).
 */
export function moveItemReporter(opts: { nodeId: string; nodeKey: SigningKey; coordinatorUrl: string }) {
  return async function reportMoveItem(report: MoveItemReport): Promise<MoveItemAnswer> {
    const body = JSON.stringify(report);
    const token = await signNodeRequest(
      { nodeId: opts.nodeId, audience: COORDINATOR_AUDIENCE, purpose: NODE_REPORTS['move.item'].purpose, sha256: sha256Hex(body) },
      opts.nodeKey,
    );
    const res = await request(`${opts.coordinatorUrl}${NODE_REPORTS['move.item'].path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200)
      throw new AppError({
        code: 'move_report_failed',
        status: 502,
        // 4xx but 429 will not change on a retry (unknown move, bad body); 5xx and 429 may.
        retryable: res.statusCode >= 500 || res.statusCode === 429,
        message: `coordinator answered ${res.statusCode}: ${text.slice(0, 300)}`,
      });
    return JSON.parse(text) as MoveItemAnswer;
  };
}
