import { describe, expect, it } from 'vitest';
import { JOB_KINDS, JOB_POLICY, JOB_SCHEMAS, type JobData, jobId, parseJobData, policyOf, retryOptions } from './jobs.js';

const UUID = '7f0c1d7e-3f4c-4a35-9a57-5d9c9e0c1f00';
const target = { node_id: 'n2', pool_id: 'p2', url: 'http://n2.test' };
const restore = {
  rel_path: 'original/2026/01/01/x.jpg',
  size: 3,
  sha256: 'a'.repeat(64),
  mime: 'image/jpeg',
  user_id: 'u1',
  session_id: 's1',
  created_at: '2026-01-01T00:00:00.000Z',
  bucket: 'b',
  key: 'k',
};
const one: { [K in JobData['kind']]: Extract<JobData, { kind: K }> } = {
  variants: { kind: 'variants', image_uuid: UUID, phase: 'full' },
  replicate: { kind: 'replicate', image_uuid: UUID, target },
  move: { kind: 'move', image_uuid: UUID, move_id: 'm1', target },
  backup: { kind: 'backup', image_uuid: UUID },
  delete: { kind: 'delete', image_uuid: UUID, pool_id: 'p1' },
  restore: { kind: 'restore', image_uuid: UUID, pool_id: 'p1', restore },
  backup_delete: { kind: 'backup_delete', image_uuid: UUID, pool_id: 'p1', backup: { bucket: 'b', keys: ['k'] } },
};

describe('jobs', () => {
  it('has a schema for every kind, and every well-formed job parses back to itself', () => {
    expect(Object.keys(JOB_SCHEMAS).sort()).toEqual([...JOB_KINDS].sort());
    for (const data of Object.values(one)) expect(parseJobData(data)).toEqual({ ok: true, data });
  });

  it('refuses a payload missing what its kind needs, or of no kind, saying what is wrong', () => {
    const bad = [
      { kind: 'delete', image_uuid: UUID },
      { kind: 'replicate', image_uuid: UUID, target: { node_id: 'n2' } },
      { kind: 'restore', image_uuid: UUID, pool_id: 'p1' },
      { kind: 'thumbnails', image_uuid: UUID },
      { image_uuid: UUID },
      'not an object',
    ];
    for (const raw of bad) expect(parseJobData(raw)).toMatchObject({ ok: false, error: expect.any(String) });
    expect(parseJobData(bad[0])).toMatchObject({ error: expect.stringContaining('pool_id') });
  });

  it('ids are one per piece of work, without `:` (BullMQ forbids it)', () => {
    const ids = Object.values(one).map(jobId);
    expect(ids).toEqual([
      `${UUID}-variants-full`,
      `${UUID}-replicate-p2`,
      `${UUID}-move-m1`,
      `${UUID}-backup`,
      `${UUID}-delete-p1`,
      `${UUID}-restore-p1`,
      `${UUID}-backup_delete`,
    ]);
    expect(jobId({ kind: 'variants', image_uuid: UUID, phase: 'thumbnails' })).toBe(`${UUID}-variants`);
    for (const id of ids) expect(id).not.toContain(':');
  });

  it('one policy per kind (variants per phase): thumbnails first, backups in their own lane', () => {
    expect(policyOf({ kind: 'variants', image_uuid: UUID, phase: 'thumbnails' })).toBe(JOB_POLICY.thumbnails);
    expect(policyOf(one.variants)).toBe(JOB_POLICY.full);
    const order = Object.values(one).map((d) => [d.kind, policyOf(d).priority]);
    expect(order).toEqual([
      ['variants', 10],
      ['replicate', 20],
      ['move', 30],
      ['backup', 40],
      ['delete', 50],
      ['restore', 20],
      ['backup_delete', 60],
    ]);
    expect(
      Object.values(one)
        .filter((d) => policyOf(d).lane === 'backup')
        .map((d) => d.kind),
    ).toEqual(['backup']);
    expect(retryOptions(JOB_POLICY.delete)).toEqual({ attempts: 5, backoff: { type: 'exponential', delay: 2000 } });
    expect(retryOptions(JOB_POLICY.backup)).toEqual({ attempts: 50, backoff: { type: 'capped', delay: 2000 } });
  });
});
