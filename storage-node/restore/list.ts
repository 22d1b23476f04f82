import { COORDINATOR_AUDIENCE } from '../../shared/api.js';
import { RESTORE_LIST, type RestorePage, restoreListPath, restorePageSchema } from '../../shared/restore.js';
import { type SigningKey, sha256Hex, signNodeRequest } from '../../shared/tokens.js';

export interface RestoreListClient {
  coordinatorUrl: string;
  nodeId: string;
  nodeKey: SigningKey;
}

const EMPTY_SHA256 = sha256Hex('');

/** One page of the coordinator's restore list, signed for exactly this URL. */
export async function fetchRestorePage(
  client: RestoreListClient,
  q: { poolId: string; since?: string; after: string; limit: number },
): Promise<RestorePage> {
  const params = new URLSearchParams({ limit: String(q.limit) });
  if (q.since) params.set('since', q.since);
  if (q.after) params.set('after', q.after);
  const rel = `${restoreListPath(q.poolId)}?${params}`;
  const token = await signNodeRequest(
    { nodeId: client.nodeId, audience: COORDINATOR_AUDIENCE, purpose: RESTORE_LIST, sha256: EMPTY_SHA256, bind: { url: rel } },
    client.nodeKey,
  );
  const res = await fetch(`${client.coordinatorUrl}${rel}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`restore list: coordinator answered ${res.status} ${text.slice(0, 300)}`);
  return restorePageSchema.parse(JSON.parse(text));
}
