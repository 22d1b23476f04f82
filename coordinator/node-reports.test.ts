import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_QUERIES, NODE_REPORTS } from '../shared/reports.js';
import { restoreListPath } from '../shared/restore.js';
import { coordinatorHarness, useRedisAndTmp } from '../test/support/coordinator-harness.js';

const env = useRedisAndTmp('node-reports');
let h: Awaited<ReturnType<typeof coordinatorHarness>>;
beforeAll(async () => {
  h = await coordinatorHarness({ redis: env.redis(), tmp: env.tmp(), nodes: ['n1', 'n2'] });
});
afterAll(() => h?.close());

const errorOf = async (res: Response) => ({ status: res.status, error: ((await res.json()) as { error: string }).error });

describe('node reports, mounted from the table', () => {
  it('mounts every report at its path: no token is a 401, a token for another purpose is a 401', async () => {
    for (const [kind, spec] of Object.entries(NODE_REPORTS)) {
      const res = await h.app.request(spec.path, { method: 'POST', body: '{}' });
      expect({ kind, ...(await errorOf(res)) }).toEqual({ kind, status: 401, error: 'missing_token' });
      const other = await h.signed('n1', spec.path, kind === 'copy.stored' ? 'copy.deleted' : 'copy.stored', { node_id: 'n1' });
      expect({ kind, ...(await errorOf(other)) }).toEqual({ kind, status: 401, error: 'invalid_token' });
    }
    const get = await h.app.request(NODE_QUERIES['restore.list'].path.replace(':pool_id', 'p1'));
    expect(await errorOf(get)).toEqual({ status: 401, error: 'missing_token' });
    expect(restoreListPath('p1')).toBe('/api/internal/pools/p1/restore-list');
  });

  it('parses with the kind schema (400) and holds the signer to its own node_id (403) before the handler runs', async () => {
    for (const [kind, spec] of Object.entries(NODE_REPORTS)) {
      expect({ kind, ...(await errorOf(await h.signed('n1', spec.path, spec.purpose, { node_id: 'n1' }))) }).toEqual({ kind, status: 400, error: 'invalid_body' });
    }
    const copy = { image_uuid: '00000000-0000-4000-8000-000000000001', node_id: 'n2', pool_id: 'p2', at: new Date().toISOString() };
    expect(await errorOf(await h.signed('n1', NODE_REPORTS['copy.deleted'].path, 'copy.deleted', copy))).toEqual({ status: 403, error: 'node_mismatch' });
    const ready = { event: 'image.failed', image_uuid: copy.image_uuid, node_id: 'n1', pool_id: 'p1', width: null, height: null, format: null, variants: [], reason: 'x', at: copy.at };
    expect(await errorOf(await h.signed('n1', NODE_REPORTS['image.ready'].path, 'image.ready', ready))).toEqual({ status: 400, error: 'invalid_body' });
  });
});
